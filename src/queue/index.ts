import type { Db, StoreKind } from '../store/database.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { FileRow } from '../store/files.js';
import type { ModelRegistry } from '../models/registry.js';
import type { LineOutcome } from '../results/render.js';
import type { LineFormat } from '../dialects/types.js';
import type { BatchLine } from '../ingest/batch-line.js';
import { dialectFor } from './dialect.js';
import { createJob, type NewJob } from './create-job.js';
import { getJob, getJobByIdempotencyKey, jobStates, jobToRun, listJobs, type JobFilters } from './jobs.js';
import { requestCancel } from './cancel.js';
import { markJobDeleted } from './delete-job.js';
import { admitQueuedJobs, spendLimitReached } from './admit.js';
import { claimChunk } from './claim.js';
import { extendLease, finishChunk, releaseChunk } from './lease.js';
import { recordOutcomes, recordedLines } from './record.js';
import { fenceOpenChunks } from './fence.js';
import { closeOutJob, jobsToClose, type ClosingJob } from './close.js';
import { completeFinishedJobs } from './complete.js';
import { liveProgress, withLiveCounters, withLiveSizes, type Progress } from './progress.js';
import { releaseFile, sweepStorage, type SweepReport } from './sweep.js';
import { errorGroups, resultLines, resultPage } from './results.js';
import { failedRequests } from './retry-input.js';
import type { ClaimedChunk, JobInput, JobRow, Lease } from './types.js';
import type { ChunkLine } from '../ingest/chunk-reader.js';
import { pauseJob } from './pause.js';
import { resumeJob } from './resume.js';
import { inputLines } from './input-lines.js';
import { claimWebhooks, markWebhookDelivered, rescheduleWebhook, webhookEvents, type WebhookEvent } from './webhook-outbox.js';

export type { ClaimedChunk, JobInput, JobRow, Lease, ResultFiles } from './types.js';
export type { NewJob } from './create-job.js';
export { InputFileGone } from './create-job.js';
export type { JobFilters } from './jobs.js';
export type { ClosingJob } from './close.js';
export type { Progress } from './progress.js';
export type { SweepReport } from './sweep.js';
export type { WebhookEvent } from './webhook-outbox.js';
export { Priority, priorityName, isPriorityName, PRIORITY_NAMES, type PriorityName } from './priority.js';

export interface QueueOptions {
  /** Where input bytes are read from (closing a job, retrying its failed lines). */
  blobs: BlobStore;
  /** How long a claimed chunk is held without a heartbeat or a record write. */
  leaseMs: number;
}

/**
 * A batch job's whole lifecycle, one method per operation: create, admit, claim,
 * extend (lease), record, fence, close, complete, fold and sweep, plus the reads that
 * go with them. Each method is one small function of this folder with its guard in its
 * `where`; the SQLite/PostgreSQL differences are picked here, once (dialect.ts).
 */
export interface Queue {
  readonly kind: StoreKind;
  readonly leaseMs: number;

  // Creation and the client's view (always within a workspace).
  create(spec: NewJob, now: number): Promise<{ job: JobRow; created: boolean }>;
  byIdempotencyKey(workspace: string, key: string): Promise<JobRow | undefined>;
  get(workspace: string, id: string): Promise<JobRow | undefined>;
  list(workspace: string, filters: JobFilters): Promise<{ rows: JobRow[]; total: number }>;
  withLiveCounters(jobs: JobRow[]): Promise<JobRow[]>;
  withLiveSizes(files: FileRow[]): Promise<FileRow[]>;
  progress(jobIds: string[]): Promise<Map<string, Progress>>;
  requestCancel(workspace: string, id: string, now: number): Promise<void>;
  markDeleted(workspace: string, id: string, now: number): Promise<boolean>;
  failedRequests(jobId: string, now: number): Promise<AsyncGenerator<BatchLine> | null>;
  /** Pause and resume (pause.ts, resume.ts): true if this call changed the job. */
  pause(workspace: string, id: string, now: number): Promise<boolean>;
  resume(workspace: string, id: string): Promise<boolean>;
  /** The lines of inputs not (yet) a job's, in job order (estimates). */
  inputLines(inputs: JobInput[]): AsyncGenerator<ChunkLine>;

  // The scheduler.
  admit(maxPending: number, now: number, overSpendLimit?: (workspace: string) => Promise<boolean>): Promise<string[]>;
  spendLimitReached(registry: ModelRegistry, workspace: string): Promise<boolean>;
  jobsToClose(now: number): Promise<ClosingJob[]>;
  close(job: ClosingJob, owner: string, now: number): Promise<void>;
  complete(now: number): Promise<string[]>;
  sweep(now: number, limit?: number): Promise<SweepReport>;
  releaseFile(fileId: string, now: number): Promise<boolean>;

  // Workers: the ledger.
  recoverLeases(): Promise<void>;
  claim(owner: string, now: number, excludeJobs?: string[]): Promise<ClaimedChunk | null>;
  jobToRun(jobId: string): Promise<{ endpoint: string; model: string; deadline_at: number; dialect: string }>;
  jobStates(ids: string[]): Promise<{ id: string; status: string; deadline_at: number; paused_at: number | null }[]>;
  extend(lease: Lease, now: number): Promise<boolean>;
  finish(lease: Lease): Promise<boolean>;
  release(lease: Lease): Promise<void>;
  recordedLines(jobId: string, from: number, count: number): Promise<Set<number>>;
  /** `format`: the job's dialect's result lines (Mistral's when not given). */
  record(lease: Lease, outcomes: LineOutcome[], now: number, format?: LineFormat): Promise<boolean>;
  fence(jobId: string, owner: string, now: number): Promise<ClaimedChunk[]>;

  // The webhook outbox (webhook-outbox.ts): events of terminal jobs, leased to a deliverer.
  claimWebhooks(owner: string, now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]>;
  webhookDelivered(id: string, owner: string, now: number): Promise<boolean>;
  rescheduleWebhook(event: WebhookEvent, owner: string, nextAt: number, error: string, now: number): Promise<void>;
  webhookEvents(jobId: string): Promise<WebhookEvent[]>;

  // Result records.
  errorGroups(jobId: string): Promise<{ message: string; count: number }[]>;
  resultLines(jobId: string, limit: number): Promise<string[]>;
  resultPage(jobId: string, ok: boolean, after: number, limit: number): Promise<{ line_no: number; line: string }[]>;
}

export function createQueue(db: Db, options: QueueOptions): Queue {
  const k = db.kysely;
  const dialect = dialectFor(db.kind);
  const { blobs, leaseMs } = options;
  return {
    kind: db.kind,
    leaseMs,
    create: (spec, now) => createJob(k, dialect, spec, now),
    byIdempotencyKey: (workspace, key) => getJobByIdempotencyKey(k, workspace, key),
    get: (workspace, id) => getJob(k, workspace, id),
    list: (workspace, filters) => listJobs(k, workspace, filters),
    withLiveCounters: (jobs) => withLiveCounters(k, jobs),
    withLiveSizes: (files) => withLiveSizes(k, files),
    progress: (jobIds) => liveProgress(k, jobIds),
    requestCancel: (workspace, id, now) => requestCancel(k, workspace, id, now),
    markDeleted: (workspace, id, now) => markJobDeleted(k, workspace, id, now),
    failedRequests: (jobId, now) => failedRequests(k, blobs, jobId, now),
    pause: (workspace, id, now) => pauseJob(k, workspace, id, now),
    resume: (workspace, id) => resumeJob(k, workspace, id),
    inputLines: (inputs) => inputLines(k, blobs, inputs),

    admit: (maxPending, now, overSpendLimit) => admitQueuedJobs(k, maxPending, now, overSpendLimit),
    spendLimitReached: (registry, workspace) => spendLimitReached(k, registry, workspace),
    jobsToClose: (now) => jobsToClose(k, now),
    close: (job, owner, now) => closeOutJob(k, dialect, blobs, job, owner, now, leaseMs),
    complete: (now) => completeFinishedJobs(k, now),
    sweep: (now, limit) => sweepStorage(k, dialect, blobs, now, limit),
    releaseFile: (fileId, now) => releaseFile(k, dialect, blobs, fileId, now),

    recoverLeases: () => dialect.recoverLeases(k),
    claim: (owner, now, excludeJobs) => claimChunk(k, dialect, owner, now, leaseMs, excludeJobs),
    jobToRun: (jobId) => jobToRun(k, jobId),
    jobStates: (ids) => jobStates(k, ids),
    extend: (lease, now) => extendLease(k, lease, now + leaseMs),
    finish: (lease) => finishChunk(k, lease),
    release: (lease) => releaseChunk(k, lease),
    recordedLines: (jobId, from, count) => recordedLines(k, jobId, from, count),
    record: (lease, outcomes, now, format) => recordOutcomes(k, dialect, lease, outcomes, now, leaseMs, format),
    fence: (jobId, owner, now) => fenceOpenChunks(k, jobId, owner, now, leaseMs),

    claimWebhooks: (owner, now, lease, limit) => claimWebhooks(k, owner, now, lease, limit),
    webhookDelivered: (id, owner, now) => markWebhookDelivered(k, id, owner, now),
    rescheduleWebhook: (event, owner, nextAt, error, now) => rescheduleWebhook(k, event, owner, nextAt, error, now),
    webhookEvents: (jobId) => webhookEvents(k, jobId),

    errorGroups: (jobId) => errorGroups(k, jobId),
    resultLines: (jobId, limit) => resultLines(k, jobId, limit),
    resultPage: (jobId, ok, after, limit) => resultPage(k, jobId, ok, after, limit),
  };
}
