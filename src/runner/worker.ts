import { randomUUID } from 'node:crypto';
import type { BlobStore } from '../blobs/blob-store.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { ModelRegistry } from '../models/registry.js';
import type { EnginePool } from '../engines/engine-pool.js';
import type { Endpoint } from '../engines/engine.js';
import type { ClaimedChunk, Lease, Queue } from '../queue/index.js';
import { JobStatus } from '../queue/states.js';
import { readChunk } from '../ingest/chunk-reader.js';
import { executeLine, type LineDeps, type LineJob } from './execute-line.js';
import { OutcomeBuffer } from './outcome-buffer.js';
import { Slots } from './slots.js';
import { failedWithoutResponse } from '../results/render.js';
import { lineFormatOf } from '../dialects/line-formats.js';
import type { RetryPolicy } from './retry.js';
import type { Metrics } from '../metrics/metrics.js';

export interface WorkerOptions {
  pollMs: number;
  /** Chunks one worker holds at once. */
  maxChunks: number;
  retry: RetryPolicy;
  onAttempt?: () => void;
  /** A chunk was handed in (finished or given back): it may have been its job's last. */
  onChunkEnd?: () => void;
}

export interface WorkerDeps {
  queue: Queue;
  blobs: BlobStore;
  clock: Clock;
  registry: ModelRegistry;
  engines: EnginePool;
  /** The process's logger; the worker logs through a child carrying its id. */
  log: Logger;
  /** The process's Prometheus counters: lines count once their records are committed, retries as they are made. */
  metrics?: Metrics;
}

class Stopped extends Error {}

interface ActiveChunk {
  jobId: string;
  dispatching: boolean;
  /** Its job was paused: send no more of its lines, let those in flight finish, hand the chunk back. */
  paused: boolean;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * Claims chunks and runs their lines through the engines. Each engine gets one
 * `Slots` of its max_in_flight shared by every chunk of this worker, and each chunk
 * reads ahead at most that many lines, so memory is bounded by the concurrency.
 */
export class Worker {
  readonly id = `worker-${randomUUID().slice(0, 8)}`;
  private readonly slots = new Map<string, Slots>();
  /** Chunks held, by `job/chunk`. `dispatching`: it still has lines to send. */
  private readonly active = new Map<string, ActiveChunk>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  /** A wake that came while the loop was not waiting (it was claiming): not to be lost. */
  private woken = false;
  private idlePolls = 0;

  private readonly log: WorkerDeps['log'];

  constructor(
    private readonly deps: WorkerDeps,
    private readonly opts: WorkerOptions,
  ) {
    this.log = deps.log.child({ worker: this.id });
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming, aborts in-flight calls and hands held chunks back for another worker. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    for (const a of this.active.values()) a.abort.abort(new Stopped('worker stopping'));
    await this.loop;
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  wake(): void {
    this.woken = true;
    this.idlePolls = 0;
    this.wakeUp?.();
  }

  /** Jobs this worker is running chunks of. */
  activeJobs(): string[] {
    return [...new Set([...this.active.values()].map((a) => a.jobId))];
  }

  /** Stops sending lines of a paused job; calls in flight finish and are recorded, then its chunks go back to pending. */
  pauseJob(jobId: string): void {
    for (const a of this.active.values()) if (a.jobId === jobId) a.paused = true;
  }

  /** Aborts this worker's in-flight calls for a job that was cancelled or timed out. */
  abortJob(jobId: string, reason: string): void {
    for (const a of this.active.values()) if (a.jobId === jobId) a.abort.abort(new Error(reason));
  }

  private async run(): Promise<void> {
    while (this.running) {
      // At most one chunk per job with lines still to send: a second one of the same job would
      // only wait for the same slots, kept from other workers who then idle at the end of the
      // job. A chunk of another job (another workspace, another model) may run beside it.
      const sending = [...this.active.values()].filter((a) => a.dispatching).map((a) => a.jobId);
      let claimed: ClaimedChunk | null = null;
      if (this.active.size < this.opts.maxChunks && sending.length < 2) {
        try {
          claimed = await this.deps.queue.claim(this.id, this.deps.clock.now(), sending);
        } catch (err) {
          this.log.error({ err: (err as Error).message }, 'claiming work failed');
        }
      }
      if (claimed) {
        this.idlePolls = 0;
        this.track(claimed);
        continue;
      }
      if (this.woken) {
        // Something changed while we were claiming: look again at once.
        this.woken = false;
        continue;
      }
      // Nothing to claim: poll less and less often (up to 16× pollMs). New work wakes the
      // worker directly (in this process, or by NOTIFY from another), so the poll is only a
      // fallback — for leases that expire — and idle workers must not flood the database.
      const delay = this.opts.pollMs * 2 ** Math.min(this.idlePolls++, 4);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeUp = null;
      this.woken = false;
    }
  }

  private track(chunk: ClaimedChunk) {
    const key = `${chunk.job_id}/${chunk.chunk_no}`;
    const entry: ActiveChunk = { jobId: chunk.job_id, dispatching: true, paused: false, abort: new AbortController(), done: Promise.resolve() };
    this.active.set(key, entry);
    entry.done = this.runChunk(chunk, entry)
      .catch((err) => {
        if (!(err instanceof Stopped)) this.log.error({ job: chunk.job_id, chunk: chunk.chunk_no, err: (err as Error).message }, 'chunk failed');
      })
      .finally(() => {
        this.active.delete(key);
        this.wake();
        this.opts.onChunkEnd?.();
      });
  }

  private slotsFor(modelId: string, size: number): Slots {
    let s = this.slots.get(modelId);
    if (!s) this.slots.set(modelId, (s = new Slots(size)));
    return s;
  }

  private async runChunk(chunk: ClaimedChunk, entry: ActiveChunk) {
    const { queue, clock } = this.deps;
    const lease: Lease = { job_id: chunk.job_id, chunk_no: chunk.chunk_no, token: chunk.token };
    const signal = entry.abort.signal;
    const job = await queue.jobToRun(chunk.job_id);
    const model = this.deps.registry.get(job.model);
    const format = lineFormatOf(job.dialect, job.endpoint as Endpoint);
    const heartbeat = setInterval(() => void this.heartbeat(lease, entry.abort), Math.max(50, this.deps.queue.leaseMs / 3));
    const buffer = new OutcomeBuffer(
      async (outcomes) => {
        const recorded = await queue.record(lease, outcomes, clock.now(), format);
        if (recorded) this.deps.metrics?.linesRecorded(job.model, job.endpoint, outcomes);
        return recorded;
      },
      (reason) => entry.abort.abort(reason),
      // A batch never holds much more than the calls in flight: it bounds what a crash can lose.
      Math.max(64, model?.max_in_flight ?? 64),
    );
    try {
      const done = await queue.recordedLines(chunk.job_id, Number(chunk.first_line), chunk.line_count);
      const lineJob: LineJob | null = model ? { endpoint: job.endpoint as Endpoint, model, deadline: Number(job.deadline_at), format } : null;
      const engine = model ? await this.deps.engines.get(model).catch((err: Error) => err) : new Error(`model '${job.model}' is no longer configured`);
      // The calls the engine takes at once, and those it may hold waiting beyond them.
      const inFlight = (model?.max_in_flight ?? 1) + (engine instanceof Error ? 0 : (engine.queueAhead ?? 0));
      const window = new Slots(inFlight);
      // The same for every line of the chunk: made once, not per line.
      const lineDeps: LineDeps | null =
        lineJob && !(engine instanceof Error)
          ? {
              engine,
              slots: this.slotsFor(lineJob.model.id, inFlight),
              retry: this.opts.retry,
              clock,
              onAttempt: this.opts.onAttempt,
              onRetry: (reason) => this.deps.metrics?.retried(lineJob.model.id, reason),
            }
          : null;
      const inflight = new Map<number, Promise<void>>();
      const lastLine = Number(chunk.first_line) + chunk.line_count - 1;
      for await (const line of readChunk(this.deps.blobs, chunk)) {
        if (signal.aborted || entry.paused) break;
        if (entry.dispatching && lastLine - line.lineNo < window.size) {
          // The rest of this chunk fits in the window: claim the next one now so that the
          // slots these last lines free are filled at once, not after a claim round trip.
          // (Two windows ahead was tried: a paused job's next chunk and a lower priority's
          // lines went out past the guards test/scheduling/priority-pause.test.ts holds.)
          entry.dispatching = false;
          this.wake();
        }
        if (done.has(line.lineNo)) continue;
        if (!lineDeps || !lineJob) {
          buffer.add(unavailable(line.lineNo, line.request?.custom_id ?? null, engine instanceof Error ? engine.message : 'no model'));
          continue;
        }
        if (!window.tryAcquire()) await window.acquire(signal).catch(() => undefined);
        if (signal.aborted) break;
        if (entry.paused) {
          window.release();
          break;
        }
        // Set below before the body can reach `finally`: executeLine always awaits first.
        const p = (async () => {
          try {
            buffer.add(await executeLine(line, lineJob, lineDeps, signal));
          } catch {
            // Aborted (lost, cancelled, paused, stopping): the line gets no record here.
          } finally {
            window.release();
            inflight.delete(line.lineNo);
          }
        })();
        inflight.set(line.lineNo, p);
      }
      if (entry.dispatching) {
        entry.dispatching = false;
        this.wake();
      }
      await Promise.all(inflight.values());
      await buffer.flush();
      if (signal.aborted || entry.paused) {
        await queue.release(lease);
        return;
      }
      await queue.finish(lease);
    } catch (err) {
      // A store write failed (say, the database went away): hand the chunk back now rather than at
      // lease expiry. Its unrecorded lines are redone by whoever claims it next.
      await queue.release(lease).catch(() => undefined);
      throw err;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Keeps the lease alive, and stops the chunk when the lease is lost or the job was cancelled or ran out of time. */
  private async heartbeat(lease: Lease, abort: AbortController) {
    try {
      const now = this.deps.clock.now();
      const [job] = await this.deps.queue.jobStates([lease.job_id]);
      if (!job || job.status !== JobStatus.RUNNING || Number(job.deadline_at) <= now) return abort.abort(new Error(`job is ${job?.status ?? 'gone'}`));
      if (!(await this.deps.queue.extend(lease, now))) abort.abort(new Error('lease lost'));
    } catch (err) {
      this.log.warn({ job: lease.job_id, chunk: lease.chunk_no, err: (err as Error).message }, 'heartbeat failed');
    }
  }
}

const unavailable = (lineNo: number, customId: string | null, reason: string) =>
  failedWithoutResponse(lineNo, customId, 'model_unavailable', `The model is unavailable: ${reason}`);
