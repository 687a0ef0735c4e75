import { onAbort } from '../../abort-links.js';

export type Priority = 'online' | 'batch';

interface Waiter<T> {
  priority: Priority;
  /** How well a slot suits the request (acquire's `fit`). */
  fit?: (slot: T) => number;
  /** Times a later waiter was served before this one (grouping; bounded by `maxPasses`). */
  passes: number;
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
 *
 * Grouping: a slot freed for batch work goes to the waiter among the first `lookahead`
 * that it suits best (a positive `fit`: the sequence holds a long start of that line's
 * prompt), else to the first. Lines interleaving more distinct prefixes than there are
 * sequences then still find their prefix held. A waiter is passed over at most
 * `maxPasses` times (the first waiter has been passed at least as often as any behind
 * it, and once it reaches the bound it is served), and online waiters are not reordered.
 */
export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiting: Record<Priority, Waiter<T>[]> = { online: [], batch: [] };
  private onlineStreak = 0;
  /** Every slot, lent or not (for counters read across the pool). */
  readonly all: readonly T[];
  /** Batch waiters a freed slot looks through for the best fit; 1 = first come, first served (the benchmark's baseline). */
  lookahead = 64;
  /** Times a batch waiter may be passed over for a better-fitting one. */
  maxPasses = 16;

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
   * without, the one freed last. A positive fit means the slot is worth more to this
   * request than any other (a freed slot may then go to it before earlier batch waiters,
   * see grouping above); priority order is never traded for a better fit.
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
      const waiter: Waiter<T> = { priority, fit, passes: 0, grant: resolve, unlink };
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
    const next = batchTurn ? this.bestWaiter(batch, slot) : online.shift();
    if (!next) {
      this.free.push(slot);
      return;
    }
    this.onlineStreak = batchTurn || batch.length === 0 ? 0 : this.onlineStreak + 1;
    next.unlink();
    next.grant(slot);
  }

  /** Takes the batch waiter that `slot` suits best within the lookahead (the first at equal fit, or once passed `maxPasses` times). */
  private bestWaiter(batch: Waiter<T>[], slot: T): Waiter<T> | undefined {
    let best = 0;
    if (batch.length > 1 && batch[0]!.passes < this.maxPasses) {
      // Only a positive fit counts: a slot no waiter can reuse goes to the first, as without grouping.
      let bestFit = Math.max(0, batch[0]!.fit?.(slot) ?? 0);
      for (let i = 1; i < Math.min(batch.length, this.lookahead); i++) {
        const fit = batch[i]!.fit?.(slot) ?? 0;
        if (fit > bestFit) [best, bestFit] = [i, fit];
      }
      for (let i = 0; i < best; i++) batch[i]!.passes++;
    }
    return batch.splice(best, 1)[0];
  }
}
