import {
  LlamaGrammarEvaluationState,
  TokenBias,
  type Llama,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type SequenceEvaluateOptions,
  type Token,
} from 'node-llama-cpp';
import { CompletionText } from './completion-text.js';
import type { Sampling } from './sampling.js';

export interface Generated {
  text: string;
  finishReason: 'stop' | 'length';
  completionTokens: number;
  /** The tokens generated (without the one that ended generation). */
  tokens: Token[];
  /** An end token of the caller's (e.g. the end of reasoning) ended generation. */
  endToken: Token | null;
}

/** Grammars, compiled once per GBNF text (compiling costs milliseconds; requests repeat schemas). */
export class Grammars {
  private readonly cache = new Map<string, Promise<LlamaGrammar>>();
  constructor(private readonly llama: Llama) {}

  get(gbnf: string): Promise<LlamaGrammar> {
    let g = this.cache.get(gbnf);
    if (!g) {
      g = this.llama.createGrammar({ grammar: gbnf });
      g.catch(() => this.cache.delete(gbnf));
      if (this.cache.size > 256) this.cache.clear();
      this.cache.set(gbnf, g);
    }
    return g;
  }
}

export interface GenerateInput {
  model: LlamaModel;
  seq: LlamaContextSequence;
  /** Everything before the answer; what the sequence already holds of it is not evaluated again. */
  prompt: Token[];
  sampling: Sampling;
  /** Tokens this generation may take at most. */
  limit: number;
  /** Holds the answer to a grammar (JSON, tool calls). */
  grammar?: LlamaGrammar | null;
  /** Tokens that end this generation besides end-of-sequence (kept out of the text). */
  endTokens?: Token[];
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
 * Generates on one sequence until end-of-sequence, an end token, a stop string (cut from
 * the text), the limit, or the end of the context. The signal is checked before every
 * token, so an abort stops generation within one decode step.
 */
export async function generate(g: GenerateInput): Promise<Generated> {
  const { model, seq, prompt, sampling: s, signal } = g;
  const limit = Math.min(g.limit, seq.contextSize - prompt.length);
  // A grammar's answer must not be cut by a stop string: it would no longer parse.
  const text = new CompletionText(model, g.continuesPrefix ? prompt : [], g.grammar ? [] : s.stop, g.onDelta);
  const out: Token[] = [];
  let finishReason: Generated['finishReason'] = 'length';
  let endToken: Token | null = null;
  if (limit > 0) {
    const options: SequenceEvaluateOptions = {
      temperature: s.temperature,
      topP: s.topP,
      seed: (s.seed + g.choice) % 2 ** 32,
      yieldEogToken: true,
      evaluationPriority: g.online ? 5 : 3,
    };
    if (g.grammar) options.grammarEvaluationState = new LlamaGrammarEvaluationState({ model, grammar: g.grammar });
    if (s.minTokens > 0) {
      const noEnd = endBias(model);
      const none = new TokenBias(model.tokenizer);
      options.tokenBias = () => (out.length < s.minTokens ? noEnd : none);
    }
    if (s.presencePenalty || s.frequencyPenalty) {
      options.repeatPenalty = { punishTokens: () => out, penalty: 1, presencePenalty: s.presencePenalty, frequencyPenalty: s.frequencyPenalty };
    }
    finishReason = 'stop';
    const ends = new Set(g.endTokens ?? []);
    for await (const token of seq.evaluate(await unevaluated(seq, prompt), options)) {
      if (signal.aborted) throw signal.reason;
      if (model.isEogToken(token)) break;
      if (ends.has(token)) {
        endToken = token;
        break;
      }
      out.push(token);
      if (text.push(token)) break;
      if (out.length >= limit) {
        finishReason = 'length';
        break;
      }
    }
  }
  return { text: text.finish(), finishReason, completionTokens: out.length, tokens: out, endToken };
}

/**
 * The part of `prompt` the sequence does not hold yet. A later phase of one answer (the
 * answer after reasoning, the arguments after a tool-call marker) continues the tokens
 * already evaluated; whatever differs is erased first. At least one token is always
 * evaluated, so the next token has logits.
 */
async function unevaluated(seq: LlamaContextSequence, prompt: Token[]): Promise<Token[]> {
  const held = seq.contextTokens;
  let common = 0;
  const max = Math.min(held.length, prompt.length - 1);
  while (common < max && held[common] === prompt[common]) common++;
  if (common < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: common, end: seq.nextTokenIndex }]);
  return prompt.slice(common);
}

function endBias(model: LlamaModel): TokenBias {
  const bias = new TokenBias(model.tokenizer);
  for (const t of [model.tokens.eos, model.tokens.eot]) if (t !== null) bias.set(t, 'never');
  return bias;
}
