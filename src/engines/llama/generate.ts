import { randomUUID } from 'node:crypto';
import { LlamaGrammarEvaluationState, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { invalidRequest, type Usage } from '../engine.js';

export interface Sampling {
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
  json: boolean;
}

/** Mistral's sampling fields, checked and defaulted. */
export function samplingOf(body: Record<string, unknown>, defaultMaxTokens: number): Sampling {
  const num = (k: string, lo: number, hi: number, d: number) => {
    const v = body[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw invalidRequest(k, `must be a number from ${lo} to ${hi}`);
    return v;
  };
  const stop = body.stop === undefined || body.stop === null ? [] : Array.isArray(body.stop) ? body.stop : [body.stop];
  if (!stop.every((s) => typeof s === 'string' && s.length > 0)) throw invalidRequest('stop', 'must be a string or an array of strings');
  const format = (body.response_format as { type?: string } | undefined)?.type;
  return {
    maxTokens: Math.floor(num('max_tokens', 0, 1_000_000, defaultMaxTokens)),
    temperature: num('temperature', 0, 2, 0.3),
    topP: num('top_p', 0, 1, 1),
    seed: Math.floor(num('random_seed', 0, 2 ** 32 - 1, Math.floor(Math.random() * 2 ** 31))),
    stop: stop as string[],
    json: format === 'json_object' || format === 'json_schema',
  };
}

export interface Generated {
  text: string;
  finishReason: 'stop' | 'length';
  usage: Usage;
}

/**
 * Generates on one sequence: stops at end-of-sequence, a stop string (not included in
 * the text) or max_tokens (clamped to the context left after the prompt). Decoding the
 * whole generation at the end keeps multi-byte characters that span tokens intact.
 */
export async function generate(
  llama: Llama,
  model: LlamaModel,
  seq: LlamaContextSequence,
  prompt: Token[],
  s: Sampling,
  signal: AbortSignal,
  onText?: (delta: string) => void,
): Promise<Generated> {
  const room = seq.contextSize - prompt.length;
  if (room <= 0) throw invalidRequest('messages', `the prompt is ${prompt.length} tokens; this model's context holds ${seq.contextSize}`);
  const limit = Math.min(s.maxTokens, room);
  const out: Token[] = [];
  let finish: 'stop' | 'length' = 'length';
  let text: string | null = null;
  const stream = onText ? new TextStream(onText, s.stop) : null;
  if (limit > 0) {
    const grammar = s.json ? new LlamaGrammarEvaluationState({ model, grammar: await llama.getGrammarFor('json') }) : undefined;
    for await (const token of seq.evaluate(prompt, { temperature: s.temperature, topP: s.topP, seed: s.seed, grammarEvaluationState: grammar })) {
      if (signal.aborted) throw signal.reason;
      if (model.isEogToken(token)) {
        finish = 'stop';
        break;
      }
      out.push(token);
      if (s.stop.length) {
        const sofar = model.detokenize(out);
        const at = Math.min(...s.stop.map((x) => sofar.indexOf(x)).filter((i) => i >= 0));
        if (Number.isFinite(at)) {
          text = sofar.slice(0, at);
          finish = 'stop';
          break;
        }
      }
      stream?.update(model.detokenize(out));
      if (out.length >= limit) break;
    }
  }
  const final = text ?? model.detokenize(out);
  stream?.end(final);
  return {
    text: final,
    finishReason: finish,
    usage: { prompt_tokens: prompt.length, completion_tokens: out.length, total_tokens: prompt.length + out.length },
  };
}

/** Mistral's ChatCompletionResponse (FIM uses the same shape). */
export function completionBody(modelName: string, g: Generated) {
  return {
    id: randomUUID().replace(/-/g, ''),
    object: 'chat.completion',
    model: modelName,
    created: Math.floor(Date.now() / 1000),
    choices: [{ index: 0, message: { role: 'assistant', content: g.text, tool_calls: null }, finish_reason: g.finishReason }],
    usage: g.usage,
  };
}

/**
 * Turns the growing decoded text into deltas that never need taking back: a trailing
 * U+FFFD (a multi-byte character whose bytes have not all arrived) is held, and so is
 * any tail that could still become a stop string, which must not reach the client.
 */
class TextStream {
  private sent = 0;
  private readonly hold: number;

  constructor(private readonly emit: (delta: string) => void, stop: string[]) {
    this.hold = Math.max(0, ...stop.map((x) => x.length - 1));
  }

  update(sofar: string) {
    let safe = sofar.replace(/\uFFFD+$/, '').length - this.hold;
    if (safe > this.sent) {
      this.emit(sofar.slice(this.sent, safe));
      this.sent = safe;
    }
  }

  end(final: string) {
    if (final.length > this.sent) this.emit(final.slice(this.sent));
    this.sent = final.length;
  }
}
