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
  /** Request headers, built once: a batch sends the same ones thousands of times a second. */
  private readonly jsonHeaders: Record<string, string>;
  private readonly streamHeaders: Record<string, string>;

  constructor(private readonly opts: UpstreamClientOptions) {
    const url = new URL(opts.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    const common = { 'content-type': 'application/json', ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}) };
    this.jsonHeaders = { ...common, accept: 'application/json' };
    this.streamHeaders = { ...common, accept: 'text/event-stream' };
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

  /**
   * POSTs `body` to `<base URL><path>` (path after /v1, e.g. '/chat/completions'); resolves to the parsed 2xx JSON object.
   *
   * Through undici's dispatch API rather than `request()`: a batch makes thousands of these a
   * second on the event loop online calls share, and `request()` spends a good part of each
   * call on what a small JSON answer does not need (an AbortController for our deadline, an
   * async-hooks resource, a Readable for the body, parsing every header). Here the answer's
   * pieces are collected as they come and the call is ended through the abort function undici
   * hands to onConnect; failures map to the same EngineErrors as a stream's (see `failure`).
   */
  postJson(path: string, body: unknown, signal: AbortSignal): Promise<Record<string, unknown>> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    const timeoutMs = this.opts.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      let abortCall: ((err: Error) => void) | null = null;
      let stopped: Error | null = null;
      let timedOut = false;
      let status = 0;
      let retryAfter: string | undefined;
      const pieces: Buffer[] = [];
      const stop = (why: Error) => {
        if (stopped) return;
        stopped = why;
        abortCall?.(why);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const unlink = onAbort(signal, () => stop(abortError(signal)));
      const settle = () => {
        clearTimeout(timer);
        unlink();
      };
      this.dispatcher.dispatch(
        { origin: this.origin, path: `${this.basePath}${path}`, method: 'POST', headers: this.jsonHeaders, body: JSON.stringify(body) },
        {
          onConnect: (abort: (err: Error) => void) => {
            abortCall = abort;
            if (stopped) abort(stopped);
          },
          onHeaders: (statusCode: number, rawHeaders: Buffer[]) => {
            if (statusCode < 200) return true; // 1xx: the answer is still to come
            status = statusCode;
            if (statusCode >= 300) retryAfter = rawHeader(rawHeaders, 'retry-after');
            return true;
          },
          onData: (piece: Buffer) => {
            pieces.push(piece);
            return true;
          },
          onComplete: () => {
            settle();
            const text = Buffer.concat(pieces).toString('utf8');
            try {
              if (status < 200 || status >= 300) throw statusError(status, text, retryAfter);
              resolve(parseObject(text));
            } catch (err) {
              reject(err as Error);
            }
          },
          onError: (err: Error) => {
            settle();
            reject(failure(err, signal, timedOut, timeoutMs));
          },
        },
      );
    });
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
    return this.postForStream(path, body, signal, async (res) => {
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

  /** One streaming request with our deadline and the caller's abort; every failure becomes an EngineError. */
  private async postForStream<T>(path: string, body: unknown, signal: AbortSignal, read: (res: Dispatcher.ResponseData) => Promise<T>): Promise<T> {
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
        headers: this.streamHeaders,
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      if (res.statusCode < 200 || res.statusCode >= 300) throw statusError(res.statusCode, await res.body.text(), res.headers['retry-after']);
      return await read(res);
    } catch (err) {
      throw failure(err, signal, timedOut, this.opts.requestTimeoutMs);
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

/** What a failed call throws: the caller's abort, our deadline, an EngineError as it is, or a network error. */
function failure(err: unknown, signal: AbortSignal, timedOut: boolean, timeoutMs: number): Error {
  if (signal.aborted) return abortError(signal);
  if (timedOut) return timeoutError(timeoutMs);
  if (err instanceof EngineError) return err;
  return networkError(err);
}

/** A header's value from undici's raw [name, value, …] list (names in any case), the first if repeated. */
function rawHeader(raw: Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
  return undefined;
}
