import type { LineOutcome } from '../results/render.js';

/**
 * Group commit: outcomes collect here and are written in batches, one transaction per
 * batch, one batch at a time, when `maxBatch` are waiting or `maxDelayMs` after the first
 * arrived. A line counts as done only once its batch is committed, so a crash loses at
 * most the calls in flight and one batch per chunk. (Writing every outcome at once made
 * SQLite spend its time in fsync: 12k records/s against 20k with batches, measured.)
 * If a write is refused (lease lost), `onFenced` runs and later outcomes are dropped:
 * the chunk's new owner will redo those lines.
 *
 * A batch is written once the I/O callbacks already due have run (setImmediate), never in
 * the middle of them: upstream answers come in bursts, and each answer's callback sends
 * the chunk's next line, so written there the records (rendering, SQLite's synchronous
 * transaction) would delay the rest of the burst's next calls, and online calls, by a
 * millisecond or more each time.
 */
export class OutcomeBuffer {
  private pending: LineOutcome[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private fenced = false;
  private failure: unknown = null;

  constructor(
    private readonly write: (outcomes: LineOutcome[]) => Promise<boolean>,
    private readonly onFenced: (reason: unknown) => void,
    private readonly maxBatch = 256,
    private readonly maxDelayMs = 20,
  ) {}

  add(outcome: LineOutcome): void {
    if (this.fenced) return;
    this.pending.push(outcome);
    if (this.pending.length >= this.maxBatch) this.flushSoon(0);
    else this.flushSoon(this.maxDelayMs);
  }

  /** Writes everything added so far; rejects if any write failed. */
  async flush(): Promise<void> {
    this.flushSoon(0);
    await this.writing;
    if (this.pending.length) await this.flush();
    if (this.failure) throw this.failure;
  }

  private flushSoon(delay: number) {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (delay > 0) {
      this.timer = setTimeout(() => this.flushSoon(0), delay);
      return;
    }
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.writing = this.writing.then(afterPendingIo).then(async () => {
      if (this.fenced) return;
      try {
        if (!(await this.write(batch))) {
          this.fenced = true;
          this.onFenced(new Error('lease lost'));
        }
      } catch (err) {
        this.fenced = true;
        this.failure = err;
        this.onFenced(err);
      }
    });
  }
}

const afterPendingIo = () => new Promise<void>((resolve) => setImmediate(resolve));
