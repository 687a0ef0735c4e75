import { onAbort } from '../abort-links.js';

/** A counting semaphore: at most `size` holders; waiters are served in order. */
export class Slots {
  private used = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Takes a slot if one is free now (no waiter is ahead then): true if taken. Spares the hot path a promise and a microtask hop. */
  tryAcquire(): boolean {
    if (this.used >= this.size) return false;
    this.used++;
    return true;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const grant = () => {
        unlink();
        resolve();
      };
      const unlink = signal
        ? onAbort(signal, () => {
            const i = this.waiters.indexOf(grant);
            if (i >= 0) this.waiters.splice(i, 1);
            reject(signal.reason);
          })
        : () => true;
      this.waiters.push(grant);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    // The slot passes straight to the next waiter, so `used` stays the same.
    if (next) next();
    else this.used--;
  }
}
