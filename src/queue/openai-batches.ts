import type { JobRow, Q } from './types.js';

/**
 * OpenAI's view of the jobs (/v1/batches): only the jobs created through OpenAI's API,
 * within a workspace, never deleted ones. The Mistral API reads every job through jobs.ts.
 */
function openAiJobs(db: Q, workspace: string) {
  return db.selectFrom('batch_jobs').where('workspace', '=', workspace).where('dialect', '=', 'openai').where('deleted_at', 'is', null);
}

export async function getOpenAiJob(db: Q, workspace: string, id: string): Promise<JobRow | undefined> {
  return openAiJobs(db, workspace).selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Newest first, `limit` + 1 rows (the extra one tells the caller there are more), after the
 * cursor job when one is given: the jobs created before it, or at the same instant with a
 * smaller id, so a page boundary inside one millisecond neither skips nor repeats a job.
 */
export async function listOpenAiJobs(db: Q, workspace: string, after: JobRow | null, limit: number): Promise<JobRow[]> {
  let q = openAiJobs(db, workspace);
  if (after) {
    const at = Number(after.created_at);
    q = q.where((eb) => eb.or([eb('created_at', '<', at), eb.and([eb('created_at', '=', at), eb('id', '<', after.id)])]));
  }
  return q
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
}
