import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { foldProgress, liveProgress } from './progress.js';
import { ChunkState, JobStatus, TRANSITIONS } from './states.js';
import { enqueueWebhook } from './webhook-outbox.js';

/**
 * RUNNING jobs whose every chunk is done become SUCCESS, or FAILED when not one request
 * succeeded; the job's webhook event (if it has a webhook_url) is queued in the same transaction.
 */
export async function completeFinishedJobs(db: Kysely<Database>, now: number): Promise<string[]> {
  const finished = await db
    .selectFrom('batch_jobs as j')
    .select(['j.id', 'j.total_requests'])
    .where('j.status', '=', JobStatus.RUNNING)
    .where(({ not, exists, selectFrom }) =>
      // `in`, not `!= 'done'`: two index probes, not a scan of the job's chunks.
      not(
        exists(
          selectFrom('job_chunks as c').select('c.job_id').whereRef('c.job_id', '=', 'j.id').where('c.state', 'in', [ChunkState.PENDING, ChunkState.LEASED]),
        ),
      ),
    )
    .limit(100)
    .execute();
  for (const job of finished) {
    await db.transaction().execute(async (tx) => {
      const succeeded = (await liveProgress(tx, [job.id])).get(job.id)?.succeeded ?? 0;
      const t = succeeded === 0 && Number(job.total_requests) > 0 ? TRANSITIONS.fail : TRANSITIONS.succeed;
      const res = await tx
        .updateTable('batch_jobs')
        .set({ status: t.to, completed_at: now })
        .where('id', '=', job.id)
        .where('status', 'in', t.from)
        .executeTakeFirst();
      // Only the process whose update won folds the totals and queues the webhook event (same transaction).
      if (Number(res.numUpdatedRows) === 1) {
        await foldProgress(tx, job.id, now);
        await enqueueWebhook(tx, job.id, t.to, now);
      }
    });
  }
  return finished.map((j) => j.id);
}
