import { onAbort } from '../../abort-links.js';

export type Priority = 'online' | 'batch';

interface Waiter<T> {
  priority: Priority;
  grant(slot: T): void;
  /** Stops listening for the request's abort (once it got a slot). */
  unlink(): void;
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
  private onlineStreak = 0;
  /** Every slot, lent or not (for counters read across the pool). */
  readonly all: readonly T[];

  constructor(
    slots: T[],
    private readonly onlineRun = 3,
  ) {
    this.free = [...slots];
    this.all = [...slots];
  }

  /** Slots not lent out. */
  get idle(): number {
    return this.free.length;
  }

  get queued(): number {
    return this.waiting.online.length + this.waiting.batch.length;
  }

  /**
   * A free slot at once, or the next one freed. With `fit`, the free slot it scores
   * highest is taken (e.g. the sequence already holding the longest part of a prompt);
   * without, the one freed last. A freed slot goes to the next waiter whatever its fit:
   * priority order is never traded for a better fit.
   */
  acquire(priority: Priority, signal: AbortSignal, fit?: (slot: T) => number): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const slot = fit ? this.takeBest(fit) : this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => {
      const queue = this.waiting[priority];
      // Aborted while waiting: leave the queue at once, never take a slot.
      const unlink = onAbort(signal, () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        reject(signal.reason);
      });
      const waiter: Waiter<T> = { priority, grant: resolve, unlink };
      queue.push(waiter);
    });
  }

  private takeBest(fit: (slot: T) => number): T | undefined {
    let best = -1;
    let bestScore = -Infinity;
    // From the end, so that at equal scores the slot freed last is taken, as without a fit.
    for (let i = this.free.length - 1; i >= 0; i--) {
      const score = fit(this.free[i]!);
      if (score > bestScore) [best, bestScore] = [i, score];
    }
    return best < 0 ? undefined : this.free.splice(best, 1)[0];
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
    next.unlink();
    next.grant(slot);
  }
}
