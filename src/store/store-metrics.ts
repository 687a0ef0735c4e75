import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { ChunkState, JOB_STATUSES, UNFINISHED_STATUSES } from '../queue/states.js';

export interface StoreMetrics {
  jobs: Record<string, number>;
  /** Requests of unfinished jobs without a terminal record yet. */
  requestsWaiting: number;
  /** Chunks of unfinished jobs not yet done, by state. */
  chunks: { pending: number; leased: number };
  /** Distinct workers holding a live lease. */
  workersActive: number;
}

/**
 * What the whole deployment is doing, read from the store (so any API node reports
 * the same, whatever process runs the work). Every query is an aggregate: no ids, no
 * workspace names.
 */
export async function readStoreMetrics(db: Kysely<Database>, now: number): Promise<StoreMetrics> {
  const jobs: Record<string, number> = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));
  const byStatus = await db
    .selectFrom('batch_jobs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('deleted_at', 'is', null)
    .groupBy('status')
    .execute();
  for (const r of byStatus) jobs[r.status] = Number(r.n);
  const open = db.selectFrom('job_chunks as c').innerJoin('batch_jobs as j', 'j.id', 'c.job_id').where('j.status', 'in', UNFINISHED_STATUSES);
  const waiting = await open.select(sql<number>`coalesce(sum(c.line_count - c.succeeded - c.failed), 0)`.as('n')).executeTakeFirstOrThrow();
  const states = await open
    .select(['c.state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('c.state', '!=', ChunkState.DONE)
    .groupBy('c.state')
    .execute();
  const chunks = { pending: 0, leased: 0 };
  for (const r of states) if (r.state === ChunkState.PENDING || r.state === ChunkState.LEASED) chunks[r.state] = Number(r.n);
  const workers = await db
    .selectFrom('job_chunks')
    .select(sql<number>`count(distinct lease_owner)`.as('n'))
    .where('state', '=', ChunkState.LEASED)
    .where('lease_expires_at', '>=', now)
    .executeTakeFirstOrThrow();
  return { jobs, requestsWaiting: Number(waiting.n), chunks, workersActive: Number(workers.n) };
}
