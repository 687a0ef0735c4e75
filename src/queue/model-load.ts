import { sql } from 'kysely';
import { ChunkState, JobStatus } from './states.js';
import type { Q } from './types.js';

export interface ModelLoad {
  /** Lines of leased chunks not yet recorded: being worked on now. */
  inFlight: number;
  /** Lines of chunks no worker holds yet. */
  waiting: number;
  runningJobs: number;
}

/** A workspace's running work per model, from its running jobs' open chunks (read by the dashboard). */
export async function modelLoad(db: Q, workspace: string): Promise<Map<string, ModelLoad>> {
  const rows = await db
    .selectFrom('job_chunks as c')
    .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
    .where('j.workspace', '=', workspace)
    .where('j.status', '=', JobStatus.RUNNING)
    .where('c.state', 'in', [ChunkState.LEASED, ChunkState.PENDING])
    .select(['j.model', 'c.state', sql<number>`sum(c.line_count - c.succeeded - c.failed)`.as('lines'), sql<number>`count(distinct c.job_id)`.as('jobs')])
    .groupBy(['j.model', 'c.state'])
    .execute();
  const load = new Map<string, ModelLoad>();
  for (const r of rows) {
    const m = load.get(r.model) ?? { inFlight: 0, waiting: 0, runningJobs: 0 };
    if (r.state === ChunkState.LEASED) m.inFlight += Number(r.lines);
    else m.waiting += Number(r.lines);
    // A job with both leased and pending chunks is counted once.
    m.runningJobs = Math.max(m.runningJobs, Number(r.jobs));
    load.set(r.model, m);
  }
  return load;
}
