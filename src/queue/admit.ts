import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { batchCost, type ModelRegistry } from '../models/registry.js';
import { attachResultFiles } from './result-files.js';
import { ADMITTED_STATUSES, TRANSITIONS, UNFINISHED_STATUSES, JobStatus } from './states.js';

/**
 * A workspace's spend so far (all its jobs' tokens at batch price) against its limit.
 * Checked only at admission: work already running may take it slightly past, as Mistral's FAQ says.
 */
export async function spendLimitReached(db: Kysely<Database>, registry: ModelRegistry, workspace: string): Promise<boolean> {
  const limit = registry.spendLimits[workspace];
  if (limit === undefined) return false;
  // Finished jobs carry folded totals; running ones are summed from their chunks.
  const rows = await db
    .selectFrom('batch_jobs')
    .select(['model', (eb) => eb.fn.sum<number>('prompt_tokens').as('p'), (eb) => eb.fn.sum<number>('completion_tokens').as('c')])
    .where('workspace', '=', workspace)
    .groupBy('model')
    .unionAll(
      db
        .selectFrom('job_chunks as k')
        .innerJoin('batch_jobs as j', 'j.id', 'k.job_id')
        .select(['j.model', (eb) => eb.fn.sum<number>('k.prompt_tokens').as('p'), (eb) => eb.fn.sum<number>('k.completion_tokens').as('c')])
        .where('j.workspace', '=', workspace)
        .where('j.status', 'in', UNFINISHED_STATUSES)
        .groupBy('j.model'),
    )
    .execute();
  const spent = rows.reduce((sum, r) => sum + (batchCost(registry, r.model, Number(r.p), Number(r.c)) ?? 0), 0);
  return spent >= limit;
}

/**
 * Starts queued jobs while their workspace stays within the pending-requests cap,
 * oldest first per workspace (a later small job never overtakes an older big one, so
 * neither starves). A job starts with its output and error files already created, so
 * both can be read while it runs.
 */
export async function admitQueuedJobs(
  db: Kysely<Database>,
  maxPending: number,
  now: number,
  overSpendLimit?: (workspace: string) => Promise<boolean>,
): Promise<string[]> {
  const queued = await db
    .selectFrom('batch_jobs')
    .select(['id', 'workspace', 'total_requests'])
    .where('status', '=', JobStatus.QUEUED)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .limit(500)
    .execute();
  if (queued.length === 0) return [];
  const running = await db
    .selectFrom('job_chunks as c')
    .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
    .select(['j.workspace', sql<number>`sum(c.line_count - c.succeeded - c.failed)`.as('pending')])
    .where('j.status', 'in', ADMITTED_STATUSES)
    // Only workspaces with something queued: other workspaces' running chunks are not needed.
    .where('j.workspace', 'in', [...new Set(queued.map((q) => q.workspace))])
    .groupBy('j.workspace')
    .execute();
  const pending = new Map(running.map((r) => [r.workspace, Number(r.pending)]));
  const blocked = new Set<string>();
  const started: string[] = [];
  for (const job of queued) {
    if (blocked.has(job.workspace)) continue;
    const current = pending.get(job.workspace) ?? 0;
    if (current + Number(job.total_requests) > maxPending || (await overSpendLimit?.(job.workspace))) {
      blocked.add(job.workspace);
      continue;
    }
    if (await startJob(db, job.id, job.workspace, now)) {
      pending.set(job.workspace, current + Number(job.total_requests));
      started.push(job.id);
    }
  }
  return started;
}

/** QUEUED → RUNNING, with the job's result files, in one transaction; false if another process started it first. */
async function startJob(db: Kysely<Database>, jobId: string, workspace: string, now: number): Promise<boolean> {
  const t = TRANSITIONS.admit;
  return db.transaction().execute(async (tx) => {
    const res = await tx
      .updateTable('batch_jobs')
      .set({ status: t.to, started_at: now })
      .where('id', '=', jobId)
      .where('status', 'in', t.from)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await attachResultFiles(tx, jobId, workspace, now);
    return true;
  });
}
