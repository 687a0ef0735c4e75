import type { Worker } from 'node:worker_threads';
import { spawnThread } from '../../spawn-thread.js';
import { UpstreamSlots, type CallEvents, type CallHandle, type CallRequest, type PoolSpec, type WireError } from './upstream-call.js';

/** A thread hears of every pool once, before its first call (a new thread of them all); calls name their pool by id. */
export type ToIoThread =
  | { t: 'pool'; pool: PoolSpec }
  | { t: 'call'; id: number; pool: string; call: CallRequest }
  | { t: 'abort'; id: number; message: string }
  | { t: 'kick'; pool: string }
  | { t: 'close'; pool: string };

export type FromIoThread =
  | { id: number; t: 'head'; status: number; contentType: string; retryAfter: string | undefined }
  | { id: number; t: 'data'; text: string }
  | { id: number; t: 'end'; text: string }
  | { id: number; t: 'error'; err: WireError };

/** Where one upstream client's calls run: its own queue in this thread, or the I/O thread. */
export interface CallTransport {
  call(request: CallRequest, events: CallEvents): CallHandle;
  /** The client is closed: its pool's connections go. */
  close(): Promise<void>;
}

/** A client's pool on the I/O thread. */
export interface ThreadPool extends CallTransport {
  /** A slot of the pool was given back by the main thread's own calls: calls waiting on the thread may go. */
  kick(): void;
}

/**
 * The process's upstream I/O thread: batch lines' upstream HTTP calls are sent and read
 * there, and only the answer's text comes back (online calls too when none of their
 * model's slots is free; otherwise the client sends them itself, see UpstreamClient).
 * The main thread runs everything else a line costs (reading the input, the dialects'
 * translations, rendering, the ledger's records) and the API, and was busy enough that
 * answers waited for it: with a fixed number of connections, every moment an answer waits
 * to be read is a moment its connection carries nothing. The thread's loop does little
 * besides the sockets, so a freed connection is refilled at once from the calls waiting
 * there (the runner hands over a few more than the connections).
 *
 * Messages go both ways in batches (one per turn of the sender's loop). One thread for
 * the process, started with the server (or at the first call); it does not keep the process alive while idle.
 * If it dies, the calls it held fail as network errors (retried like any) and the next
 * call starts a new one.
 */
export class IoThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, CallEvents>();
  /** Every client's pool, with its shared slot count (to free what the thread held should it die). */
  private readonly pools = new Map<string, { spec: PoolSpec; slots: UpstreamSlots }>();
  private outbox: ToIoThread[] = [];

  /** A client's calls on this thread, over the pool `spec` describes. */
  pool(spec: PoolSpec): ThreadPool {
    this.pools.set(spec.id, { spec, slots: new UpstreamSlots(spec.connections, spec.slots) });
    // A thread started later hears of it when it starts.
    if (this.worker) this.send({ t: 'pool', pool: spec });
    return {
      call: (request, events) => this.call(spec.id, request, events),
      close: async () => {
        this.pools.delete(spec.id);
        if (this.worker) this.send({ t: 'close', pool: spec.id });
      },
      kick: () => {
        // Only while the thread holds calls: one of them may be waiting for the slot.
        if (this.worker && this.pending.size > 0) this.send({ t: 'kick', pool: spec.id });
      },
    };
  }

  private call(pool: string, call: CallRequest, events: CallEvents): CallHandle {
    const id = this.nextId++;
    this.pending.set(id, events);
    if (this.pending.size === 1) this.thread().ref();
    this.send({ t: 'call', id, pool, call });
    return {
      abort: (message) => {
        if (this.pending.has(id)) this.send({ t: 'abort', id, message });
      },
    };
  }

  /** Starts the thread ahead of the first call (loading it takes a few hundred ms), without keeping the process alive. */
  start(): void {
    const w = this.thread();
    if (this.pending.size === 0) w.unref();
  }

  /** Ends the thread: its calls fail as it dying would make them fail (see `thread`); a later call starts a new one. */
  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // A large young generation: every answer is short-lived garbage (its pieces, its text),
    // and fewer scavenges measured ~3% more throughput at 64 connections.
    const w = spawnThread(import.meta.url, 'io-thread-worker', { resourceLimits: { maxYoungGenerationSizeMb: 64 } });
    w.on('message', (batch: FromIoThread[]) => this.receive(batch));
    // Ahead of anything else sent to it, so every call finds its pool there.
    w.postMessage([...this.pools.values()].map((p): ToIoThread => ({ t: 'pool', pool: p.spec })));
    const lost = (why: string) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.outbox = [];
      const calls = [...this.pending.values()];
      this.pending.clear();
      for (const p of this.pools.values()) p.slots.reclaim();
      for (const ev of calls) ev.error({ message: `upstream I/O thread stopped (${why})`, code: 'EIOTHREAD', timedOut: false });
    };
    w.on('error', (err) => lost(err.message));
    w.on('exit', (code) => lost(`exit code ${code}`));
    this.worker = w;
    return w;
  }

  private send(m: ToIoThread) {
    // Everything asked for in this turn goes in one message, at the end of the turn's microtasks.
    if (this.outbox.length === 0) queueMicrotask(() => this.flush());
    this.outbox.push(m);
  }

  private flush() {
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length) this.thread().postMessage(batch);
  }

  private receive(batch: FromIoThread[]) {
    for (const m of batch) {
      const ev = this.pending.get(m.id);
      if (!ev) continue;
      if (m.t === 'head') ev.head(m.status, m.contentType, m.retryAfter);
      else if (m.t === 'data') ev.data(m.text);
      else {
        this.pending.delete(m.id);
        if (m.t === 'end') ev.end(m.text);
        else ev.error(m.err);
      }
    }
    if (this.pending.size === 0) this.worker?.unref();
  }
}

let shared: IoThread | null = null;

/** The process's I/O thread. */
export const ioThread = (): IoThread => (shared ??= new IoThread());
