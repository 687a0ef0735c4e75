import { Pool, errors as undiciErrors } from 'undici';
import { EngineError } from '../engine.js';

export interface UpstreamResponse {
  status: number;
  json: Record<string, unknown>;
}

export interface UpstreamOptions {
  /** Base URL ending in /v1 (the registry's `url`). */
  baseUrl: string;
  apiKey?: string;
  /** Connections kept alive to the upstream; the registry's max_in_flight. */
  connections: number;
  /** Per-request limit: a hung upstream becomes a retryable timeout. */
  requestTimeoutMs: number;
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Retry-After as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/**
 * One keep-alive connection pool per upstream (never per request), JSON in and out,
 * and one place that turns what can go wrong into retryable or final EngineErrors:
 * 429/408/5xx, resets, refusals, timeouts and unparseable bodies may succeed on a
 * retry; any other 4xx is the request's fault and is final, with the upstream's body.
 */
export class UpstreamClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(private readonly opts: UpstreamOptions) {
    const url = new URL(opts.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: opts.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
    });
  }

  /** POSTs to `<base>/<path>` (path without /v1) and returns the parsed 200 body. */
  async postJson(path: string, body: unknown, signal: AbortSignal): Promise<UpstreamResponse> {
    let res;
    try {
      res = await this.pool.request({
        method: 'POST',
        path: `${this.basePath}${path}`,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      throw classifyNetworkError(err, signal);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw classifyNetworkError(err, signal);
    }
    const parsed = parseJson(text);
    if (res.statusCode === 200) {
      if (!parsed || typeof parsed !== 'object') {
        throw new EngineError(`upstream returned a malformed body: ${text.slice(0, 200)}`, true, 502, null, null, 'upstream_malformed_response');
      }
      return { status: 200, json: parsed as Record<string, unknown> };
    }
    const errorBody = parsed && typeof parsed === 'object' ? parsed : { object: 'error', message: text.slice(0, 2000), type: 'upstream_error', param: null, code: null };
    const message = upstreamMessage(errorBody) ?? `upstream answered ${res.statusCode}`;
    const retryable = res.statusCode === 429 || res.statusCode === 408 || res.statusCode >= 500;
    throw new EngineError(
      `upstream ${res.statusCode}: ${message}`,
      retryable,
      res.statusCode,
      errorBody,
      retryable ? parseRetryAfter(res.headers['retry-after']) : null,
      retryable ? (res.statusCode === 429 ? 'upstream_rate_limited' : 'upstream_unavailable') : 'upstream_rejected',
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function upstreamMessage(body: unknown): string | null {
  const b = body as { message?: unknown; error?: { message?: unknown }; detail?: unknown };
  if (typeof b.message === 'string') return b.message;
  if (b.error && typeof b.error.message === 'string') return b.error.message;
  if (typeof b.detail === 'string') return b.detail;
  if (b.detail !== undefined) return JSON.stringify(b.detail).slice(0, 500);
  return null;
}

/** An abort stays an abort (the runner gave up the line); anything else on the wire is retryable. */
function classifyNetworkError(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('aborted'), { name: 'AbortError' });
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (err instanceof undiciErrors.RequestAbortedError) return Object.assign(new Error('aborted'), { name: 'AbortError' });
  if (TIMEOUT_CODES.has(code)) return new EngineError(`upstream did not answer in time (${code})`, true, 504, null, null, 'upstream_timeout');
  if (NETWORK_CODES.has(code)) return new EngineError(`upstream connection failed (${code})`, true, 502, null, null, 'upstream_unreachable');
  return new EngineError(`upstream request failed: ${e.message ?? String(err)}`, true, 502, null, null, 'upstream_unreachable');
}

/** The client for a registry entry: its URL and key, one connection per request it may have in flight. */
export function clientFor(model: { url?: string; api_key?: string; max_in_flight: number }, requestTimeoutMs: number): UpstreamClient {
  return new UpstreamClient({ baseUrl: model.url!, apiKey: model.api_key, connections: model.max_in_flight, requestTimeoutMs });
}
