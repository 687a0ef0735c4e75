import { Worker, type WorkerDeps, type WorkerOptions } from './worker.js';
import { JobStatus } from '../queue/states.js';

const SWEEP_EVERY_MS = 60_000;

export interface RunnerOptions extends WorkerOptions {
  maxPendingRequests: number;
  /** How often the scheduler admits, completes, cancels and expires jobs (up to 8× less often while idle). */
  tickMs: number;
  /** Jobs were admitted here: other processes' workers should look for work (a NOTIFY on PostgreSQL). */
  onAdmitted?: () => void;
}

export type RunnerDeps = WorkerDeps;

/** What changed: jobs (created, cancelled, admitted), or storage to give back (a job deleted). */
export type NudgeReason = 'jobs' | 'storage';

/**
 * A process's share of job execution: a scheduler tick (admission, completion,
 * cancellation, timeouts — all idempotent and guarded in SQL, so any number of
 * processes may run it) and a worker that claims chunks.
 */
export class Runner {
  readonly worker: Worker;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private lastSweep = 0;
  /** A sweep at start, then after a deletion. */
  private sweepDue = true;
  /** Ticks in a row that found nothing to do. */
  private idleTicks = 0;
  /** A nudge came during a tick. */
  private tickAgain = false;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly opts: RunnerOptions,
  ) {
    // A job is completed when its last chunk is handed in, not at the next tick (the worker wakes itself).
    this.worker = new Worker(deps, { ...opts, onChunkEnd: () => this.tickSoon() });
  }

  async start(): Promise<void> {
    await this.deps.queue.recoverLeases();
    this.worker.start();
    this.schedule(0);
  }

  /** Runs the scheduler now (new job, cancel, deletion, work admitted elsewhere) instead of at the next tick. */
  nudge(reason: NudgeReason = 'jobs'): void {
    if (reason === 'storage') this.sweepDue = true;
    this.idleTicks = 0;
    this.worker.wake();
    this.tickSoon();
  }

  /** A tick now, or right after the one running: that one may have looked before the change. */
  private tickSoon(): void {
    if (this.ticking) this.tickAgain = true;
    else if (!this.stopped) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.worker.stop();
  }

  private schedule(delay: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        // Idle (nothing done, nothing running here): tick less often, so that many idle
        // processes do not poll the database hard; a nudge brings the pace back at once.
        const again = this.tickAgain;
        this.tickAgain = false;
        if (!this.stopped) this.schedule(again ? 0 : this.opts.tickMs * 2 ** Math.min(this.idleTicks, 3));
      });
    }, delay);
  }

  /**
   * Aborts in-flight calls of jobs no longer running (cancelled or expired, possibly by
   * another process), so upstream work stops within a tick rather than at the next heartbeat;
   * stops sending lines of paused jobs (their in-flight calls finish).
   */
  private async abortStoppedWork() {
    const ids = this.worker.activeJobs();
    if (ids.length === 0) return;
    const now = this.deps.clock.now();
    const rows = await this.deps.queue.jobStates(ids);
    for (const r of rows) {
      if (r.status !== JobStatus.RUNNING || Number(r.deadline_at) <= now) this.worker.abortJob(r.id, `job is ${r.status}`);
      else if (r.paused_at !== null) this.worker.pauseJob(r.id);
    }
  }

  async tick(): Promise<void> {
    const { queue, clock } = this.deps;
    try {
      const closing = await queue.jobsToClose(clock.now());
      for (const job of closing) {
        await queue.close(job, this.worker.id, clock.now());
      }
      await this.abortStoppedWork();
      const admitted = await queue.admit(this.opts.maxPendingRequests, clock.now(), (ws) => queue.spendLimitReached(this.deps.registry, ws));
      if (admitted.length) {
        this.worker.wake();
        this.opts.onAdmitted?.();
      }
      const finished = await queue.complete(clock.now());
      // Storage of deleted files and jobs: after a job is deleted, when a job ends (it may have
      // held a deleted input), and at least every SWEEP_EVERY_MS.
      if (this.sweepDue || finished.length || closing.length || clock.now() - this.lastSweep >= SWEEP_EVERY_MS) {
        this.sweepDue = false;
        this.lastSweep = clock.now();
        await queue.sweep(clock.now());
      }
      const busy = closing.length || admitted.length || finished.length || this.worker.activeJobs().length;
      this.idleTicks = busy ? 0 : this.idleTicks + 1;
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'scheduler tick failed');
    }
  }
}
