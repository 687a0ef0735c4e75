import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { StoreKind } from '../store/database.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { cancelledOutcome, expiredOutcome, type LineOutcome } from '../results/render.js';
import { attachResultFiles } from './admission.js';
import { readChunk } from './chunk-reader.js';
import { fenceOpenChunks } from './ledger/fence-chunks.js';
import { finishChunk } from './ledger/extend-lease.js';
import { recordOutcomes, recordedLines } from './ledger/record-outcomes.js';
import { foldProgress, liveProgress } from '../store/job-progress.js';

const GROUP = 500;

/** Jobs whose time is up (RUNNING or QUEUED past the deadline) and jobs whose cancel was asked for. */
export async function jobsToClose(db: Kysely<Database>, now: number) {
  return db
    .selectFrom('batch_jobs')
    .select(['id', 'workspace', 'status', 'deadline_at'])
    .where((eb) =>
      eb.or([
        eb('status', '=', 'CANCELLATION_REQUESTED'),
        eb.and([eb('status', 'in', ['QUEUED', 'RUNNING']), eb('deadline_at', '<=', now)]),
      ]),
    )
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
  kind: StoreKind,
  blobs: BlobStore,
  job: { id: string; workspace: string; status: string },
  owner: string,
  now: number,
  leaseMs: number,
): Promise<void> {
  const cancelling = job.status === 'CANCELLATION_REQUESTED';
  const outcomeFor = cancelling ? cancelledOutcome : expiredOutcome;
  await db.transaction().execute((tx) => attachResultFiles(tx, job.id, job.workspace, now));
  for (const chunk of await fenceOpenChunks(db, job.id, owner, now, leaseMs)) {
    const lease = { job_id: job.id, chunk_no: chunk.chunk_no, token: chunk.token };
    const done = await recordedLines(db, job.id, Number(chunk.first_line), chunk.line_count);
    let group: LineOutcome[] = [];
    for await (const line of readChunk(blobs, chunk)) {
      if (done.has(line.lineNo)) continue;
      group.push(outcomeFor(line.lineNo, line.request?.custom_id ?? null));
      if (group.length >= GROUP) {
        if (!(await recordOutcomes(db, kind, lease, group, now, leaseMs))) return;
        group = [];
      }
    }
    // Fenced out means another closer took over this job: leave the rest to it.
    if (!(await recordOutcomes(db, kind, lease, group, now, leaseMs))) return;
    if (!(await finishChunk(db, lease))) return;
  }
  await db.transaction().execute(async (tx) => {
    const res = await tx
      .updateTable('batch_jobs')
      .set({ status: cancelling ? 'CANCELLED' : 'TIMEOUT_EXCEEDED', completed_at: now })
      .where('id', '=', job.id)
      .where('status', '=', job.status)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) await foldProgress(tx, job.id, now);
  });
}

/** RUNNING jobs whose every chunk is done become SUCCESS, or FAILED when not one request succeeded. */
export async function completeFinishedJobs(db: Kysely<Database>, now: number): Promise<string[]> {
  const finished = await db
    .selectFrom('batch_jobs as j')
    .select(['j.id', 'j.total_requests'])
    .where('j.status', '=', 'RUNNING')
    .where(({ not, exists, selectFrom }) =>
      // `in`, not `!= 'done'`: two index probes, not a scan of the job's chunks.
      not(exists(selectFrom('job_chunks as c').select('c.job_id').whereRef('c.job_id', '=', 'j.id').where('c.state', 'in', ['pending', 'leased']))),
    )
    .limit(100)
    .execute();
  for (const job of finished) {
    await db.transaction().execute(async (tx) => {
      const succeeded = (await liveProgress(tx, [job.id])).get(job.id)?.succeeded ?? 0;
      const status = succeeded === 0 && Number(job.total_requests) > 0 ? 'FAILED' : 'SUCCESS';
      const res = await tx.updateTable('batch_jobs').set({ status, completed_at: now }).where('id', '=', job.id).where('status', '=', 'RUNNING').executeTakeFirst();
      // Only the process whose update won folds the totals.
      if (Number(res.numUpdatedRows) === 1) await foldProgress(tx, job.id, now);
    });
  }
  return finished.map((j) => j.id);
}
