import { Pool, type Dispatcher } from 'undici';

/**
 * One HTTP call to an upstream as plain data, so that it can be run in this thread or
 * handed to the upstream I/O thread (io-thread.ts) alike: the body is already JSON text.
 * Which pool runs it is the transport's: each client has its own.
 */
export interface CallRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** From the moment the request leaves the queue for a connection, not while it waits for one. */
  timeoutMs: number;
  /** Online calls go before batch calls waiting for a connection of the same pool. */
  online: boolean;
  /** Pass the body on piece by piece (server-sent events) instead of whole at the end. */
  stream: boolean;
}

export interface PoolSpec {
  /** The client's own: two registry entries on one server keep their own connections and limits. */
  id: string;
  origin: string;
  /** Requests sent at once: the registry's max_in_flight; more wait here, online ones first. */
  connections: number;
  /** undici's own header and body timeouts: above every call's own deadline, so ours fires first. */
  socketTimeoutMs: number;
  /** The count of calls at the upstream, shared with the main thread's online calls (UpstreamSlots). */
  slots: SharedArrayBuffer;
}

/** What a call reports, in order: `head` once (unless it failed first), `data` pieces (stream calls), then `end` or `error`. */
export interface CallEvents {
  head(status: number, contentType: string, retryAfter: string | undefined): void;
  data(text: string): void;
  /** The whole body for a non-stream call; '' for a stream call (its pieces came as data). */
  end(text: string): void;
  error(err: WireError): void;
}

/** A failure as data: what networkError() reads (code, message), and whether our own deadline fired. */
export interface WireError {
  message: string;
  code?: string;
  timedOut: boolean;
}

export function newPool(p: PoolSpec): Pool {
  return new Pool(p.origin, { connections: p.connections, keepAliveTimeout: 30_000, headersTimeout: p.socketTimeoutMs, bodyTimeout: p.socketTimeoutMs });
}

/** A running call: `abort` ends it (its `error` event then reports `message`, unless it already ended). */
export interface CallHandle {
  abort(message: string): void;
}

/**
 * The calls an upstream may have at once, counted in memory both threads see: the I/O
 * thread runs batch calls and the main thread online calls on connections of its own
 * (see io-thread.ts), and between them never more than `limit` are at the upstream.
 * With the thread off, the same count serves the one thread.
 */
export class UpstreamSlots {
  /** [0]: calls at the upstream, both threads together; [1]: those the I/O thread holds. */
  private readonly count: Int32Array;

  constructor(
    readonly limit: number,
    buffer: SharedArrayBuffer,
    /** The I/O thread's own: it also counts what it holds, for `reclaim` should it die. */
    private readonly thread = false,
  ) {
    this.count = new Int32Array(buffer);
  }

  static shared(limit: number): { slots: UpstreamSlots; buffer: SharedArrayBuffer } {
    const buffer = new SharedArrayBuffer(8);
    return { slots: new UpstreamSlots(limit, buffer), buffer };
  }

  /** Takes a slot if one is free: check and take as one step, whichever thread asks. */
  take(): boolean {
    // Counted as the thread's first, so that a thread dying in between never leaves a slot no one can give back.
    if (this.thread) Atomics.add(this.count, 1, 1);
    for (;;) {
      const n = Atomics.load(this.count, 0);
      if (n >= this.limit) {
        if (this.thread) Atomics.sub(this.count, 1, 1);
        return false;
      }
      if (Atomics.compareExchange(this.count, 0, n, n + 1) === n) return true;
    }
  }

  give(): void {
    Atomics.sub(this.count, 0, 1);
    if (this.thread) Atomics.sub(this.count, 1, 1);
  }

  /** The I/O thread is gone with its calls: the slots it held are free again. */
  reclaim(): void {
    const held = Atomics.exchange(this.count, 1, 0);
    const left = Atomics.sub(this.count, 0, held) - held;
    if (left < 0) Atomics.add(this.count, 0, -left);
  }
}

/**
 * Runs calls on one dispatcher while `slots` has room; the rest wait in two queues, online
 * calls first. (undici's pool would queue them too, but in arrival order only, and the
 * runner hands over a few batch calls more than the connections so that a freed
 * connection is refilled at once: an online call must not wait behind those.)
 */
export class CallQueue {
  private readonly waiting: { online: Pending[]; batch: Pending[] } = { online: [], batch: [] };

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly origin: string,
    private readonly slots: UpstreamSlots,
    /** A slot was given back (the other thread may have calls waiting for one). */
    private readonly onFree: () => void = () => undefined,
  ) {}

  /** Queues or starts a call; the handle aborts it wherever it is. */
  call(spec: CallRequest, events: CallEvents): CallHandle {
    const pending: Pending = { spec, events, started: null, aborted: false };
    // Behind any already waiting (online ones first), even if the other thread just gave a slot back.
    (spec.online ? this.waiting.online : this.waiting.batch).push(pending);
    this.pump();
    return {
      abort: (message) => {
        if (pending.started) return pending.started.abort(message);
        if (pending.aborted) return;
        pending.aborted = true;
        const queue = spec.online ? this.waiting.online : this.waiting.batch;
        queue.splice(queue.indexOf(pending), 1);
        events.error({ message, timedOut: false });
      },
    };
  }

  /** Starts a call only if a slot is free now; null if none is (the caller sends it elsewhere). */
  callNow(spec: CallRequest, events: CallEvents): CallHandle | null {
    if (!this.slots.take()) return null;
    const pending: Pending = { spec, events, started: null, aborted: false };
    this.start(pending);
    return pending.started;
  }

  /** Starts waiting calls while slots are free (a slot may have been given back by the other thread). */
  pump(): void {
    while (this.waiting.online.length + this.waiting.batch.length > 0 && this.slots.take()) {
      this.start((this.waiting.online.shift() ?? this.waiting.batch.shift())!);
    }
  }

  private start(p: Pending) {
    p.started = send(this.dispatcher, this.origin, p.spec, p.events, () => {
      this.slots.give();
      // The next call goes out now, before the answer just read is handed on.
      this.pump();
      this.onFree();
    });
  }
}

interface Pending {
  spec: CallRequest;
  events: CallEvents;
  started: CallHandle | null;
  aborted: boolean;
}

/**
 * One call through undici's dispatch API rather than `request()`: a batch makes thousands
 * of these a second, and `request()` spends a good part of each on what a JSON answer does
 * not need (an AbortController, an async-hooks resource, a Readable for the body, parsing
 * every header). `done` runs once the connection is free (answer read, or failed), before
 * the answer is reported.
 */
function send(dispatcher: Dispatcher, origin: string, spec: CallRequest, events: CallEvents, done: () => void): CallHandle {
  const call = new UpstreamCall(events, done, spec.timeoutMs, spec.stream);
  try {
    dispatcher.dispatch({ origin, path: spec.path, method: 'POST', headers: spec.headers, body: spec.body }, call);
  } catch (err) {
    call.onError(err as Error);
  }
  return call;
}

/**
 * undici's handler for one call: one object with its methods on the prototype, rather than
 * a handler of closures over a shared scope. Measured on the I/O thread over 100,000 calls
 * (two runs each): 76 young-generation collections before, 55-58 after, their time
 * 1.4-1.5 s before, 0.8-0.9 s after; each collection stops the thread's sockets, every
 * connection idle meanwhile. It drops the answer's pieces and the caller's events once the
 * call ended (`events` null is "ended").
 */
class UpstreamCall implements CallHandle {
  private abortCall: ((err: Error) => void) | null = null;
  private stopped: Error | null = null;
  private timedOut = false;
  private pieces: Buffer[] | null = [];
  private readonly decoder: InstanceType<typeof TextDecoder> | null;
  private timer: NodeJS.Timeout | null;
  /** Null once the call ended. */
  private events: CallEvents | null;
  private done: (() => void) | null;

  constructor(events: CallEvents, done: () => void, timeoutMs: number, stream: boolean) {
    this.events = events;
    this.done = done;
    this.decoder = stream ? new TextDecoder() : null;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.stop(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  }

  abort(message: string): void {
    this.stop(new Error(message));
  }

  onConnect(abort: (err: Error) => void): void {
    this.abortCall = abort;
    if (this.stopped) abort(this.stopped);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the answer is still to come
    this.events?.head(statusCode, rawHeader(rawHeaders, 'content-type') ?? '', statusCode >= 300 ? rawHeader(rawHeaders, 'retry-after') : undefined);
    return true;
  }

  onData(piece: Buffer): boolean {
    if (this.decoder) this.events?.data(this.decoder.decode(piece, { stream: true }));
    else this.pieces?.push(piece);
    return true;
  }

  onComplete(): void {
    const events = this.finish();
    if (!events) return;
    const text = this.decoder ? this.decoder.decode() : Buffer.concat(this.pieces!).toString('utf8');
    this.pieces = null;
    events.end(text);
  }

  onError(err: Error): void {
    const events = this.finish();
    if (!events) return;
    this.pieces = null;
    const e = err as { code?: string; cause?: { code?: string } };
    events.error({ message: this.stopped?.message ?? err.message, code: this.stopped ? undefined : (e.code ?? e.cause?.code), timedOut: this.timedOut });
  }

  private stop(why: Error) {
    if (this.stopped || !this.events) return;
    this.stopped = why;
    this.abortCall?.(why);
  }

  /** Ends the call once: frees its connection's slot and hands back the caller's events (null if it had ended). */
  private finish(): CallEvents | null {
    const events = this.events;
    if (!events) return null;
    this.events = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const done = this.done!;
    this.done = null;
    done();
    return events;
  }
}

/** A header's value from undici's raw [name, value, …] list (names in any case), the first if repeated. */
function rawHeader(raw: Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
  return undefined;
}
