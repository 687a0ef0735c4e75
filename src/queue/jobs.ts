import type { JobStatus } from './states.js';
import type { JobRow, Q } from './types.js';

/** Reads of job rows: a client's (always filtered by workspace), and the runner's by id. */

function visibleJobs(db: Q, workspace: string) {
  return db.selectFrom('batch_jobs').where('workspace', '=', workspace).where('deleted_at', 'is', null);
}

/** The job a workspace already created with this Idempotency-Key (deleted or not). */
export async function getJobByIdempotencyKey(db: Q, workspace: string, key: string): Promise<JobRow | undefined> {
  return db.selectFrom('batch_jobs').selectAll().where('workspace', '=', workspace).where('idempotency_key', '=', key).executeTakeFirst();
}

export async function getJob(db: Q, workspace: string, id: string): Promise<JobRow | undefined> {
  return visibleJobs(db, workspace).selectAll().where('id', '=', id).executeTakeFirst();
}

export interface JobFilters {
  page: number;
  pageSize: number;
  statuses?: JobStatus[];
  model?: string;
  agentId?: string;
  createdAfter?: number;
  createdBy?: string;
  ascending: boolean;
  metadata: Record<string, string>;
}

export async function listJobs(db: Q, workspace: string, f: JobFilters) {
  let q = visibleJobs(db, workspace);
  if (f.statuses?.length) q = q.where('status', 'in', f.statuses);
  if (f.model) q = q.where('model', '=', f.model);
  if (f.agentId) q = q.where('agent_id', '=', f.agentId);
  if (f.createdAfter !== undefined) q = q.where('created_at', '>', f.createdAfter);
  if (f.createdBy) q = q.where('created_by', '=', f.createdBy);
  for (const [key, value] of Object.entries(f.metadata)) {
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('job_metadata as m').select('m.job_id').whereRef('m.job_id', '=', 'batch_jobs.id').where('m.key', '=', key).where('m.value', '=', value),
      ),
    );
  }
  const dir = f.ascending ? 'asc' : 'desc';
  const rows = await q
    .selectAll()
    .orderBy('created_at', dir)
    .orderBy('id', dir)
    .limit(f.pageSize)
    .offset(f.page * f.pageSize)
    .execute();
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { rows, total };
}

/** What a worker needs to run a chunk's lines. */
export async function jobToRun(db: Q, id: string) {
  return db.selectFrom('batch_jobs').select(['endpoint', 'model', 'deadline_at', 'dialect']).where('id', '=', id).executeTakeFirstOrThrow();
}

/** Status and deadline of jobs by id (any workspace): is their work still to run? */
export async function jobStates(db: Q, ids: string[]) {
  if (ids.length === 0) return [];
  return db.selectFrom('batch_jobs').select(['id', 'status', 'deadline_at', 'paused_at']).where('id', 'in', ids).execute();
}
