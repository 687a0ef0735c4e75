import { onAbort } from '../abort-links.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Exponential backoff with full jitter; an upstream's Retry-After wins when it asks
 * for longer. Returns null when no attempt is left or the wait would pass the deadline.
 */
export function nextDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs: number | null,
  now: number,
  deadline: number,
  random = Math.random,
): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const delay = Math.max(retryAfterMs ?? 0, Math.round(exp * (0.5 + random() / 2)));
  return now + delay >= deadline ? null : delay;
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      unlink();
      resolve();
    }, ms);
    const unlink = onAbort(signal, () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });
}
