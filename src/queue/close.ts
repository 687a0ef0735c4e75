import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { cancelledOutcome, expiredOutcome, type LineOutcome } from '../results/render.js';
import { readChunk } from '../ingest/chunk-reader.js';
import type { QueueDialect } from './dialect.js';
import { attachResultFiles } from './result-files.js';
import { fenceOpenChunks } from './fence.js';
import { finishChunk } from './lease.js';
import { recordOutcomes, recordedLines } from './record.js';
import { lineFormatOf } from '../dialects/line-formats.js';
import { foldProgress } from './progress.js';
import { JobStatus, TRANSITIONS } from './states.js';
import { enqueueWebhook } from './webhook-outbox.js';

const GROUP = 500;

/** A job the scheduler must end: its cancel was asked for, or its time is up. */
export interface ClosingJob {
  id: string;
  workspace: string;
  status: JobStatus;
  /** Its API (result lines are written in that shape); Mistral's when not given. */
  dialect?: string;
}

/** Jobs whose time is up (RUNNING or QUEUED past the deadline) and jobs whose cancel was asked for. */
export async function jobsToClose(db: Kysely<Database>, now: number): Promise<ClosingJob[]> {
  return db
    .selectFrom('batch_jobs')
    .select(['id', 'workspace', 'status', 'deadline_at', 'dialect'])
    .where((eb) => eb.or([eb('status', 'in', TRANSITIONS.cancel.from), eb.and([eb('status', 'in', TRANSITIONS.expire.from), eb('deadline_at', '<=', now)])]))
    .limit(50)
    .execute();
}

/**
 * Ends a cancelled or expired job: fences every unfinished chunk (so no worker can
 * still write), gives each line without a record a `batch_cancelled`/`batch_expired`
 * error record, keeps every finished result, and sets the final status. Safe to run
 * again after a crash part-way: records are idempotent and chunks are re-fenced.
 */
export async function closeOutJob(
  db: Kysely<Database>,
  dialect: QueueDialect,
  blobs: BlobStore,
  job: ClosingJob,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<void> {
  const cancelling = job.status === JobStatus.CANCELLATION_REQUESTED;
  const t = cancelling ? TRANSITIONS.cancel : TRANSITIONS.expire;
  const outcomeFor = cancelling ? cancelledOutcome : expiredOutcome;
  const format = lineFormatOf(job.dialect);
  await db.transaction().execute((tx) => attachResultFiles(tx, job.id, job.workspace, now));
  for (const chunk of await fenceOpenChunks(db, job.id, owner, now, leaseMs)) {
    const lease = { job_id: job.id, chunk_no: chunk.chunk_no, token: chunk.token };
    const done = await recordedLines(db, job.id, Number(chunk.first_line), chunk.line_count);
    let group: LineOutcome[] = [];
    for await (const line of readChunk(blobs, chunk)) {
      if (done.has(line.lineNo)) continue;
      group.push(outcomeFor(line.lineNo, line.request?.custom_id ?? null));
      if (group.length >= GROUP) {
        if (!(await recordOutcomes(db, dialect, lease, group, now, leaseMs, format))) return;
        group = [];
      }
    }
    // Fenced out means another closer took over this job: leave the rest to it.
    if (!(await recordOutcomes(db, dialect, lease, group, now, leaseMs, format))) return;
    if (!(await finishChunk(db, lease))) return;
  }
  await db.transaction().execute(async (tx) => {
    const res = await tx
      .updateTable('batch_jobs')
      .set({ status: t.to, completed_at: now })
      .where('id', '=', job.id)
      // The status read by jobsToClose, still: another closer or a client did not move it meanwhile.
      .where('status', '=', job.status)
      .where('status', 'in', t.from)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) {
      await foldProgress(tx, job.id, now);
      // In the transaction of the final status: the event exists if and only if the transition does.
      await enqueueWebhook(tx, job.id, t.to, now);
    }
  });
}
