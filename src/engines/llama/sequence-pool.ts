export type Priority = 'online' | 'batch';

interface Waiter<T> {
  priority: Priority;
  signal: AbortSignal;
  grant(slot: T): void;
  reject(reason: unknown): void;
}

/**
 * The continuous-batching slots: a context's parallel sequences, lent to one request
 * at a time. llama.cpp decodes all busy sequences in shared batches, and a slot freed
 * by a finished request goes at once to the next waiter. Online waiters go first, but
 * while batch work waits, at most `onlineRun` online grants happen in a row before
 * one batch grant, so a steady online stream can slow batch work and never starve it.
 */
export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiting: Record<Priority, Waiter<T>[]> = { online: [], batch: [] };
  /**
   * One abort listener per signal, however many waiters share it: the runner passes one
   * signal for a whole chunk of lines, and one listener each would trip Node's
   * listener-leak warning.
   */
  private readonly bySignal = new Map<AbortSignal, { waiters: Set<Waiter<T>>; onAbort: () => void }>();
  private onlineStreak = 0;

  constructor(slots: T[], private readonly onlineRun = 3) {
    this.free = [...slots];
  }

  /** Slots not lent out. */
  get idle(): number {
    return this.free.length;
  }

  get queued(): number {
    return this.waiting.online.length + this.waiting.batch.length;
  }

  acquire(priority: Priority, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => {
      const waiter: Waiter<T> = { priority, signal, grant: resolve, reject };
      this.waiting[priority].push(waiter);
      let entry = this.bySignal.get(signal);
      if (!entry) {
        const created = { waiters: new Set<Waiter<T>>(), onAbort: () => this.abortAll(signal) };
        signal.addEventListener('abort', created.onAbort, { once: true });
        this.bySignal.set(signal, (entry = created));
      }
      entry.waiters.add(waiter);
    });
  }

  /** Gives the slot to the next waiter, or back to the free list. */
  release(slot: T): void {
    const { online, batch } = this.waiting;
    const batchTurn = batch.length > 0 && (online.length === 0 || this.onlineStreak >= this.onlineRun);
    const next = batchTurn ? batch.shift() : online.shift();
    if (!next) {
      this.free.push(slot);
      return;
    }
    this.onlineStreak = batchTurn || batch.length === 0 ? 0 : this.onlineStreak + 1;
    this.forget(next);
    next.grant(slot);
  }

  private forget(w: Waiter<T>) {
    const entry = this.bySignal.get(w.signal);
    if (!entry) return;
    entry.waiters.delete(w);
    if (entry.waiters.size > 0) return;
    w.signal.removeEventListener('abort', entry.onAbort);
    this.bySignal.delete(w.signal);
  }

  /** Requests aborted while waiting leave the queue at once and never take a slot. */
  private abortAll(signal: AbortSignal) {
    const entry = this.bySignal.get(signal);
    this.bySignal.delete(signal);
    for (const w of entry?.waiters ?? []) {
      const queue = this.waiting[w.priority];
      queue.splice(queue.indexOf(w), 1);
      w.reject(signal.reason);
    }
  }
}
