import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { onAbort } from '../../abort-links.js';
import type { ModelEntry } from '../../models/registry.js';
import type { EngineRequest } from '../engine.js';
import { abortError, malformedResponse, networkError, statusError, timeoutError } from './errors.js';
import { ioThread, type CallTransport } from './io-thread.js';
import { CallQueue, newPool, UpstreamSlots, type CallHandle, type CallRequest, type CallEvents, type WireError } from './upstream-call.js';

export { parseRetryAfter } from './errors.js';

/** What the upstream engines (OpenAI-compatible, Mistral) accept besides their registry entry. */
export interface UpstreamEngineOptions {
  /** Whole-request limit (connect, headers and body): a hung or dripping upstream becomes a retryable timeout. */
  requestTimeoutMs?: number;
  /** Use this undici dispatcher, in this thread, instead of a pool of our own (the caller owns it and closes it). */
  dispatcher?: Dispatcher;
  /** Run the calls on the upstream I/O thread (io-thread.ts; the default) or in this thread. */
  ioThread?: boolean;
}

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10 * 60_000;

export interface UpstreamClientOptions {
  /** Base URL ending in /v1 (the registry's `url`). */
  baseUrl: string;
  apiKey?: string;
  /** Requests sent at once, each on its own keep-alive connection: the registry's max_in_flight. */
  connections: number;
  requestTimeoutMs: number;
  dispatcher?: Dispatcher;
  ioThread?: boolean;
}

/** Online calls go before batch calls waiting for a connection. */
export type CallPriority = EngineRequest['priority'];

/** How a call's answer is read: the head, the body's text (piece by piece for a stream), and the result at the end. */
interface Reader<T> {
  stream: boolean;
  head(status: number, contentType: string, retryAfter: string | undefined): void;
  data(text: string): T | undefined;
  end(text: string): T;
}

/**
 * JSON over HTTP to one upstream through one keep-alive pool (never one per request,
 * so a batch of 100k lines reuses `connections` sockets), with a per-request deadline,
 * prompt cancellation, and every failure turned into an EngineError (see errors.ts).
 * The calls run on the upstream I/O thread (io-thread.ts) unless told otherwise (online
 * calls from this thread when a slot is free); either way at most `connections` at once,
 * counted across both threads, the rest waiting with online calls first.
 */
export class UpstreamClient {
  private readonly transport: CallTransport;
  /**
   * With the I/O thread: online calls' own connections in this thread. An online call that
   * finds a slot free (UpstreamSlots, shared with the thread) is sent from here, as directly as
   * before the thread existed: through the thread it would wait for two event loops, and
   * beside a running batch that measured 3–5 ms more at p99. With no slot free it waits on
   * the thread, ahead of the batch calls there.
   */
  private readonly online: LocalTransport | null = null;
  private readonly basePath: string;
  /** Request headers, built once: a batch sends the same ones thousands of times a second. */
  private readonly jsonHeaders: Record<string, string>;
  private readonly streamHeaders: Record<string, string>;
  /**
   * Batch calls worth holding waiting on the I/O thread beyond the connections (Engine.queueAhead):
   * enough to refill every connection freed while the main thread is busy for a few
   * milliseconds (measured: with none, a 64-connection upstream got 52 of them busy on
   * average; with 32 waiting, 63.5). None when the calls run in this thread.
   */
  readonly queueAhead: number;

  constructor(private readonly opts: UpstreamClientOptions) {
    const url = new URL(opts.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    const common = { 'content-type': 'application/json', ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}) };
    this.jsonHeaders = { ...common, accept: 'application/json' };
    this.streamHeaders = { ...common, accept: 'text/event-stream' };
    // undici's own timeouts default to 300 s; ours is the one that counts, so theirs must not fire first.
    const shared = UpstreamSlots.shared(opts.connections);
    const pool = { id: randomUUID(), origin: url.origin, connections: opts.connections, socketTimeoutMs: opts.requestTimeoutMs + 1000, slots: shared.buffer };
    if (opts.dispatcher) this.transport = new LocalTransport(opts.dispatcher, pool.origin, shared.slots, false);
    else if (opts.ioThread === false) this.transport = new LocalTransport(newPool(pool), pool.origin, shared.slots, true);
    else {
      const thread = ioThread().pool(pool);
      this.transport = thread;
      this.online = new LocalTransport(newPool(pool), pool.origin, shared.slots, true, () => thread.kick());
    }
    this.queueAhead = this.online ? Math.max(8, Math.ceil(opts.connections / 2)) : 0;
  }

  /** POSTs `body` to `<base URL><path>` (path after /v1, e.g. '/chat/completions'); resolves to the parsed 2xx JSON object. */
  postJson(path: string, body: unknown, signal: AbortSignal, priority: CallPriority = 'online'): Promise<Record<string, unknown>> {
    let status = 0;
    let retryAfter: string | undefined;
    return this.exchange(path, body, signal, priority, {
      stream: false,
      head: (s, _type, r) => ((status = s), (retryAfter = r)),
      data: () => undefined,
      end: (text) => {
        if (status < 200 || status >= 300) throw statusError(status, text, retryAfter);
        return parseObject(text);
      },
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
    priority: CallPriority = 'online',
  ): Promise<Record<string, unknown> | null> {
    let status = 0;
    let retryAfter: string | undefined;
    let events = false;
    // A whole body (an error, or plain JSON), or the part of an event stream after its last newline.
    let text = '';
    return this.exchange<Record<string, unknown> | null>(path, body, signal, priority, {
      stream: true,
      head: (s, type, r) => {
        status = s;
        retryAfter = r;
        events = s >= 200 && s < 300 && type.includes('text/event-stream');
      },
      data: (piece) => {
        text += piece;
        if (!events) return undefined;
        let nl: number;
        while ((nl = text.indexOf('\n')) >= 0) {
          const line = text.slice(0, nl).replace(/\r$/, '');
          text = text.slice(nl + 1);
          if (!line.startsWith('data:')) continue; // comments, event names, blank separators
          const data = line.slice(5).trim();
          if (data === '[DONE]') return null;
          onEvent(parseObject(data));
        }
        return undefined;
      },
      end: () => {
        if (status < 200 || status >= 300) throw statusError(status, text, retryAfter);
        return events ? null : parseObject(text);
      },
    });
  }

  /**
   * One call, settled once: by `read` (its result, or what it throws), by a failure (an
   * EngineError, see `failure`), or by the caller's abort. A reader that settles early
   * (a stream's [DONE]) lets the rest of the answer drain; one that throws ends the call.
   */
  private exchange<T>(path: string, body: unknown, signal: AbortSignal, priority: CallPriority, read: Reader<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    const timeoutMs = this.opts.requestTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let unlink: () => unknown = () => undefined;
      let handle: CallHandle | null = null;
      const settle = (outcome: () => T) => {
        if (settled) return;
        settled = true;
        unlink();
        try {
          resolve(outcome());
        } catch (err) {
          reject(err as Error);
          handle?.abort('answer refused');
        }
      };
      const request: CallRequest = {
        path: `${this.basePath}${path}`,
        headers: read.stream ? this.streamHeaders : this.jsonHeaders,
        body: JSON.stringify(body),
        timeoutMs,
        online: priority === 'online',
        stream: read.stream,
      };
      const events: CallEvents = {
        head: (status, type, retryAfter) => read.head(status, type, retryAfter),
        data: (piece) => {
          if (settled) return;
          try {
            const early = read.data(piece);
            if (early !== undefined) settle(() => early);
          } catch (err) {
            settle(() => {
              throw err;
            });
          }
        },
        end: (text) => settle(() => read.end(text)),
        error: (err) =>
          settle(() => {
            throw failure(err, signal, timeoutMs);
          }),
      };
      handle = (request.online && this.online?.callNow(request, events)) || this.transport.call(request, events);
      // The caller hears of its abort at once, whatever the call's thread is doing; the call ends there as soon as it can.
      if (!settled)
        unlink = onAbort(signal, () => {
          const err = abortError(signal);
          handle!.abort(err.message);
          settle(() => {
            throw err;
          });
        });
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.transport.close(), this.online?.close()]);
  }
}

/** Calls run in this thread, on a caller-given dispatcher or a pool of the client's own. */
class LocalTransport implements CallTransport {
  private readonly queue: CallQueue;

  constructor(
    private readonly dispatcher: Dispatcher,
    origin: string,
    slots: UpstreamSlots,
    private readonly owned: boolean,
    onFree?: () => void,
  ) {
    this.queue = new CallQueue(dispatcher, origin, slots, onFree);
  }

  call(request: CallRequest, events: CallEvents): CallHandle {
    return this.queue.call(request, events);
  }

  callNow(request: CallRequest, events: CallEvents): CallHandle | null {
    return this.queue.callNow(request, events);
  }

  async close(): Promise<void> {
    if (this.owned) await this.dispatcher.close();
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
    ioThread: opts.ioThread,
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

/** What a failed call throws: the caller's abort, our deadline, or a network error. */
function failure(err: WireError, signal: AbortSignal, timeoutMs: number): Error {
  if (signal.aborted) return abortError(signal);
  if (err.timedOut) return timeoutError(timeoutMs);
  return networkError(err);
}
