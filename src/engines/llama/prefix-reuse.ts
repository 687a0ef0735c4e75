import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { Priority, SlotPool } from './sequence-pool.js';

/**
 * Shared-prefix reuse. A sequence keeps the tokens it evaluated after its request ends
 * (their KV cache stays in the context). The next request takes the free sequence that
 * already holds the longest start of its prompt, the sequence's differing tail is erased,
 * and only the rest of the prompt is evaluated (generate.ts evaluates what the sequence
 * does not hold). Batch lines sharing a long system prompt or few-shot prefix then pay
 * for it once per sequence instead of once per line. When every sequence is busy, a
 * freed one goes to the waiting batch line it holds the longest start of (the pool's
 * grouping, sequence-pool.ts), so lines interleaving more prefixes than there are
 * sequences still find theirs held.
 *
 * Correctness: what a sequence holds beyond the common prefix (the previous request's
 * question and answer) is erased before this request evaluates anything, so no request
 * sees another's tokens; the kept prefix's KV cache is what evaluating the same tokens
 * afresh computes. Usage still counts the whole prompt (as Mistral bills it).
 */

/** What reuse saved on one pool: tests and benchmarks read it. */
export interface ReuseStats {
  /** Requests lent a sequence with a prompt. */
  lends: number;
  /** Their prompt tokens, in all. */
  promptTokens: number;
  /** Of those, tokens a sequence already held and that were not evaluated again. */
  reusedTokens: number;
}

const counters = new WeakMap<object, ReuseStats>();

export function reuseStats(pool: SlotPool<LlamaContextSequence>): ReuseStats {
  let s = counters.get(pool);
  if (!s) counters.set(pool, (s = { lends: 0, promptTokens: 0, reusedTokens: 0 }));
  return s;
}

/** The engine option, from BATCHD_LLAMA_PREFIX_REUSE (on unless `off`). */
export interface PrefixReuseOption {
  prefixReuse?: boolean;
}

export interface LendRequest {
  priority: Priority;
  signal: AbortSignal;
  /** The tokens the request evaluates first; null when it needs an empty sequence (the guard). */
  prompt: Token[] | null;
  /** Off: any free sequence, cleared after use (the behaviour before reuse; the benchmark's baseline). */
  reuse: boolean;
}

/** Length of the common start of `held` and `prompt`. */
export function sharedPrefix(held: readonly Token[], prompt: readonly Token[]): number {
  const max = Math.min(held.length, prompt.length);
  let n = 0;
  while (n < max && held[n] === prompt[n]) n++;
  return n;
}

/**
 * Lends a sequence of `pool` to `fn`. With reuse and a prompt, the free sequence holding
 * the longest start of the prompt is chosen (see `score`), and everything it holds beyond that start is erased; the prompt's last token
 * is always evaluated again, so the next token has fresh logits. Without a prompt the
 * sequence starts empty. After a failure (an abort can stop an evaluation half-way) or
 * without reuse, the sequence is cleared before it goes back.
 */
export async function lendSequence<T>(pool: SlotPool<LlamaContextSequence>, req: LendRequest, fn: (seq: LlamaContextSequence) => Promise<T>): Promise<T> {
  const prompt = req.reuse ? req.prompt : null;
  const seq = await pool.acquire(req.priority, req.signal, prompt ? (s) => score(s, prompt) : undefined);
  let kept = false;
  try {
    if (prompt) {
      const keep = Math.min(sharedPrefix(seq.contextTokens, prompt), prompt.length - 1);
      if (keep < seq.nextTokenIndex) await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
      const stats = reuseStats(pool);
      stats.lends++;
      stats.promptTokens += prompt.length;
      stats.reusedTokens += seq.nextTokenIndex;
    } else if (seq.nextTokenIndex > 0) await seq.clearHistory();
    const result = await fn(seq);
    kept = prompt !== null;
    return result;
  } finally {
    if (!kept) await seq.clearHistory().catch(() => undefined);
    pool.release(seq);
  }
}

/**
 * Shared starts shorter than this are not worth a cache: every chat prompt shares its
 * template's first tokens (`<s>[INST]`), and taking a sequence for those would throw away
 * the long prefix it holds while an empty or less useful sequence is free.
 */
export const MIN_REUSE = 16;

/**
 * Longest shared start first (from MIN_REUSE tokens); otherwise, and at equal length, the
 * sequence that loses fewest tokens. Positive exactly when the sequence holds at least
 * MIN_REUSE tokens of the prompt: the pool lets a waiting line go before earlier ones
 * only for a positive fit.
 */
function score(seq: LlamaContextSequence, prompt: Token[]): number {
  const held = seq.contextTokens;
  const common = sharedPrefix(held, prompt);
  return (common >= MIN_REUSE ? common * 2 ** 24 : 0) - (held.length - common);
}
