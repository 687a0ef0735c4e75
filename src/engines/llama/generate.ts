import { randomUUID } from 'node:crypto';
import { LlamaGrammarEvaluationState, TokenBias, type Llama, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type SequenceEvaluateOptions, type Token } from 'node-llama-cpp';
import type { Usage } from '../engine.js';
import { CompletionText } from './completion-text.js';
import type { Sampling } from './sampling.js';

export interface Generated {
  text: string;
  finishReason: 'stop' | 'length';
  completionTokens: number;
}

/** JSON grammars, compiled once per schema text (compiling costs milliseconds; requests repeat schemas). */
export class Grammars {
  private readonly cache = new Map<string, Promise<LlamaGrammar>>();
  constructor(private readonly llama: Llama) {}

  get(schema: Record<string, unknown> | null): Promise<LlamaGrammar> {
    const key = schema === null ? '' : JSON.stringify(schema);
    let g = this.cache.get(key);
    if (!g) {
      // A schema node-llama-cpp cannot compile still gets valid JSON, just not that shape.
      g = schema === null ? this.llama.getGrammarFor('json') : this.llama.createGrammarForJsonSchema(schema as never).catch(() => this.llama.getGrammarFor('json'));
      if (this.cache.size > 256) this.cache.clear();
      this.cache.set(key, g);
    }
    return g;
  }
}

export interface GenerateInput {
  model: LlamaModel;
  grammars: Grammars;
  seq: LlamaContextSequence;
  prompt: Token[];
  sampling: Sampling;
  /** Offset added to the seed: the i-th of n choices differs from the others, reproducibly. */
  choice: number;
  /** The prompt ends with an assistant prefix that the completion continues. */
  continuesPrefix: boolean;
  /** Online work is preferred when a decode batch cannot hold every sequence's tokens. */
  online: boolean;
  signal: AbortSignal;
  onDelta?: (text: string) => void;
}

/**
 * Generates on one sequence until end-of-sequence, a stop string (cut from the text),
 * max_tokens, or the end of the context. The signal is checked before every token, so
 * an abort stops generation within one decode step.
 */
export async function generate(g: GenerateInput): Promise<Generated> {
  const { model, seq, prompt, sampling: s, signal } = g;
  const limit = Math.min(s.maxTokens ?? Infinity, seq.contextSize - prompt.length);
  const text = new CompletionText(model, g.continuesPrefix ? prompt : [], s.stop, g.onDelta);
  const out: Token[] = [];
  let finishReason: Generated['finishReason'] = 'length';
  if (limit > 0) {
    const options: SequenceEvaluateOptions = {
      temperature: s.temperature,
      topP: s.topP,
      seed: (s.seed + g.choice) % 2 ** 32,
      yieldEogToken: true,
      evaluationPriority: g.online ? 5 : 3,
    };
    if (s.json) options.grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar: await g.grammars.get(s.json.schema) });
    if (s.minTokens > 0) {
      const noEnd = endBias(model);
      const none = new TokenBias(model.tokenizer);
      options.tokenBias = () => (out.length < s.minTokens ? noEnd : none);
    }
    if (s.presencePenalty || s.frequencyPenalty) {
      options.repeatPenalty = { punishTokens: () => out, penalty: 1, presencePenalty: s.presencePenalty, frequencyPenalty: s.frequencyPenalty };
    }
    finishReason = 'stop';
    for await (const token of seq.evaluate(prompt, options)) {
      if (signal.aborted) throw signal.reason;
      if (model.isEogToken(token)) break;
      out.push(token);
      if (text.push(token)) break;
      if (out.length >= limit) {
        finishReason = 'length';
        break;
      }
    }
  }
  return { text: text.finish(), finishReason, completionTokens: out.length };
}

function endBias(model: LlamaModel): TokenBias {
  const bias = new TokenBias(model.tokenizer);
  for (const t of [model.tokens.eos, model.tokens.eot]) if (t !== null) bias.set(t, 'never');
  return bias;
}

/** Mistral's ChatCompletionResponse; FIM answers with the same shape and object name. */
export function completionBody(modelName: string, choices: Generated[], usage: Usage, prefix = '') {
  return {
    id: `cmpl-${randomUUID().replace(/-/g, '')}`,
    object: 'chat.completion',
    model: modelName,
    created: Math.floor(Date.now() / 1000),
    choices: choices.map((c, index) => ({ index, message: { role: 'assistant', content: prefix + c.text, tool_calls: null }, finish_reason: c.finishReason })),
    usage,
  };
}
