import { Pool, type Dispatcher } from 'undici';
import { onAbort } from '../../abort-links.js';
import type { ModelEntry } from '../../models/registry.js';
import { EngineError } from '../engine.js';
import { abortError, malformedResponse, networkError, statusError, timeoutError } from './errors.js';

export { parseRetryAfter } from './errors.js';

/** What the upstream engines (OpenAI-compatible, Mistral) accept besides their registry entry. */
export interface UpstreamEngineOptions {
  /** Whole-request limit (connect, headers and body): a hung or dripping upstream becomes a retryable timeout. */
  requestTimeoutMs?: number;
  /** Use this undici dispatcher instead of a pool of our own (the caller owns it and closes it). */
  dispatcher?: Dispatcher;
}

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10 * 60_000;

export interface UpstreamClientOptions {
  /** Base URL ending in /v1 (the registry's `url`). */
  baseUrl: string;
  apiKey?: string;
  /** Connections kept alive to the upstream: the registry's max_in_flight. */
  connections: number;
  requestTimeoutMs: number;
  dispatcher?: Dispatcher;
}

/**
 * JSON over HTTP to one upstream through one keep-alive pool (never one per request,
 * so a batch of 100k lines reuses `connections` sockets), with a per-request deadline,
 * prompt cancellation, and every failure turned into an EngineError (see errors.ts).
 */
export class UpstreamClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: UpstreamClientOptions) {
    const url = new URL(opts.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
    };
    this.ownsDispatcher = !opts.dispatcher;
    // undici's own timeouts default to 300 s; ours is the one that counts, so theirs must not fire first.
    this.dispatcher =
      opts.dispatcher ??
      new Pool(this.origin, {
        connections: opts.connections,
        keepAliveTimeout: 30_000,
        headersTimeout: opts.requestTimeoutMs + 1000,
        bodyTimeout: opts.requestTimeoutMs + 1000,
      });
  }

  /** POSTs `body` to `<base URL><path>` (path after /v1, e.g. '/chat/completions'); resolves to the parsed 2xx JSON object. */
  postJson(path: string, body: unknown, signal: AbortSignal): Promise<Record<string, unknown>> {
    return this.post(path, body, signal, 'application/json', async (res) => parseObject(await res.body.text()));
  }

  /**
   * POSTs a streaming request and hands each server-sent event's JSON to `onEvent` as it
   * arrives, until `data: [DONE]` or the end of the body. A server that answers with
   * plain JSON instead (it ignored `stream`) resolves to that object; otherwise to null.
   */
  postEventStream(
    path: string,
    body: unknown,
    signal: AbortSignal,
    onEvent: (event: Record<string, unknown>) => void,
  ): Promise<Record<string, unknown> | null> {
    return this.post(path, body, signal, 'text/event-stream', async (res) => {
      if (!String(res.headers['content-type'] ?? '').includes('text/event-stream')) return parseObject(await res.body.text());
      const decoder = new TextDecoder();
      let buffered = '';
      const lines = function* (text: string) {
        buffered += text;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).replace(/\r$/, '');
          buffered = buffered.slice(nl + 1);
          yield line;
        }
      };
      for await (const piece of res.body) {
        for (const line of lines(decoder.decode(piece as Buffer, { stream: true }))) {
          if (!line.startsWith('data:')) continue; // comments, event names, blank separators
          const data = line.slice(5).trim();
          if (data === '[DONE]') return null;
          onEvent(parseObject(data));
        }
      }
      return null;
    });
  }

  /** One request with our deadline and the caller's abort; every failure becomes an EngineError. */
  private async post<T>(path: string, body: unknown, signal: AbortSignal, accept: string, read: (res: Dispatcher.ResponseData) => Promise<T>): Promise<T> {
    if (signal.aborted) throw abortError(signal);
    // One controller ends the request on either the caller's abort or our deadline; which one fired decides the error.
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.opts.requestTimeoutMs);
    const unlink = onAbort(signal, () => ac.abort());
    try {
      const res = await this.dispatcher.request({
        origin: this.origin,
        path: `${this.basePath}${path}`,
        method: 'POST',
        headers: { ...this.headers, accept },
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      if (res.statusCode < 200 || res.statusCode >= 300) throw statusError(res.statusCode, await res.body.text(), res.headers['retry-after']);
      return await read(res);
    } catch (err) {
      if (signal.aborted) throw abortError(signal);
      if (timedOut) throw timeoutError(this.opts.requestTimeoutMs);
      if (err instanceof EngineError) throw err;
      throw networkError(err);
    } finally {
      clearTimeout(timer);
      unlink();
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** The client for a registry entry: its URL and key, one connection per request it may have in flight. */
export function clientFor(model: ModelEntry, opts: UpstreamEngineOptions = {}): UpstreamClient {
  if (!model.url) throw new Error(`model '${model.id}' (engine ${model.engine}) has no url`);
  return new UpstreamClient({
    baseUrl: model.url,
    apiKey: model.api_key,
    connections: model.max_in_flight,
    requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    dispatcher: opts.dispatcher,
  });
}

function parseObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformedResponse(text || '(empty body)');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw malformedResponse(text);
  return parsed as Record<string, unknown>;
}
