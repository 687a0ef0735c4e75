import { engineError, type EngineError } from '../engine.js';
import { errorBody } from '../../errors.js';

/** Retry-After as delta-seconds or an HTTP date, in milliseconds (null if absent or unreadable). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return null;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/**
 * The error thrown when the caller's signal aborts. Callers tell a cancellation from a
 * failure by `name === 'AbortError'`, so an abort is never counted as an upstream fault.
 */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error(`upstream request aborted${reason instanceof Error ? `: ${reason.message}` : ''}`, { cause: reason });
  err.name = 'AbortError';
  return err;
}

// No answer to keep: the line records the gateway status with a null body.
export const timeoutError = (ms: number) => engineError('upstream_timeout', `upstream did not answer within ${ms} ms`, { status: 504, body: null });

/** A 200 we cannot read (cut-off or non-JSON body, wrong shape): likely a proxy or server hiccup, so retryable. */
export const malformedResponse = (detail: string) =>
  engineError('upstream_malformed_response', `upstream returned a malformed response: ${detail.slice(0, 200)}`, { status: 502, body: null });

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** Anything that went wrong on the wire (refused, reset, closed mid-body, DNS) may work next time. */
export function networkError(err: unknown): EngineError {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (TIMEOUT_CODES.has(code)) return engineError('upstream_timeout', `upstream did not answer in time (${code})`, { status: 504, body: null });
  const what = [code, e.message].filter(Boolean).join(': ') || String(err);
  return engineError('upstream_unreachable', `upstream connection failed (${what})`, { status: 502, body: null });
}

/**
 * A non-2xx answer. 429, 408 and 5xx are the server's state (overloaded, restarting) and
 * retryable, honouring Retry-After; any other 4xx is the request's fault and final, and
 * keeps the upstream's own JSON body so the client sees the real reason.
 */
export function statusError(status: number, text: string, retryAfter: string | string[] | undefined): EngineError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const retryable = status === 429 || status === 408 || status >= 500;
  const code = retryable ? (status === 429 ? 'upstream_rate_limited' : 'upstream_unavailable') : 'upstream_rejected';
  // An answer that is not JSON is kept as the message of an upstream_error body (Mistral's shape, code null).
  if (!body || typeof body !== 'object') body = errorBody(code, text.slice(0, 2000) || `upstream answered ${status}`);
  return engineError(code, `upstream ${status}: ${upstreamMessage(body) ?? 'no message'}`, {
    status,
    body,
    retryAfterMs: retryable ? parseRetryAfter(retryAfter) : null,
  });
}

/** The human message in the error shapes OpenAI-compatible servers, FastAPI and Mistral use. */
function upstreamMessage(body: unknown): string | null {
  const b = body as { message?: unknown; error?: unknown; detail?: unknown };
  if (typeof b.message === 'string') return b.message;
  if (typeof b.error === 'string') return b.error;
  const nested = (b.error as { message?: unknown } | undefined)?.message;
  if (typeof nested === 'string') return nested;
  if (typeof b.detail === 'string') return b.detail;
  if (b.message !== undefined) return JSON.stringify(b.message).slice(0, 500);
  if (b.detail !== undefined) return JSON.stringify(b.detail).slice(0, 500);
  return null;
}
