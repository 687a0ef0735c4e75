import type { Usage } from '../engine.js';

/** An upstream's usage object, always complete: missing counts are 0 and a missing total is their sum. */
export function usageOf(raw: unknown): Usage {
  const u = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : null);
  const prompt = count(u.prompt_tokens) ?? 0;
  const completion = count(u.completion_tokens) ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: count(u.total_tokens) ?? prompt + completion };
}
