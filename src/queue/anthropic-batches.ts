import type { JobRow, Q } from './types.js';

/**
 * Reads for Anthropic's view of the jobs (/v1/messages/batches): only jobs created through
 * that API (`dialect = 'anthropic'` in each where), within one workspace. The Mistral view
 * (jobs.ts) reads every job of the workspace.
 */

export interface CursorPage {
  /** Newer than this job: the page just before it in newest-first order. */
  beforeId?: string;
  /** Older than this job: the page just after it. */
  afterId?: string;
  limit: number;
}

/**
 * One page of the workspace's Anthropic batches, newest first, keyed by (created_at, id) so
 * jobs created in the same millisecond still have one order. `null` when the cursor names
 * no batch of the view.
 */
export async function listAnthropicBatches(db: Q, workspace: string, page: CursorPage): Promise<{ rows: JobRow[]; hasMore: boolean } | null> {
  const cursorId = page.beforeId ?? page.afterId;
  const newer = page.beforeId !== undefined;
  let q = db.selectFrom('batch_jobs').selectAll().where('workspace', '=', workspace).where('dialect', '=', 'anthropic').where('deleted_at', 'is', null);
  if (cursorId !== undefined) {
    // A deleted batch still marks its place, so a client paging while it deletes keeps its cursor.
    const cursor = await db
      .selectFrom('batch_jobs')
      .select(['id', 'created_at'])
      .where('workspace', '=', workspace)
      .where('dialect', '=', 'anthropic')
      .where('id', '=', cursorId)
      .executeTakeFirst();
    if (!cursor) return null;
    const at = Number(cursor.created_at);
    const cmp = newer ? '>' : '<';
    q = q.where((eb) => eb.or([eb('created_at', cmp, at), eb.and([eb('created_at', '=', at), eb('id', cmp, cursor.id)])]));
  }
  const dir = newer ? 'asc' : 'desc';
  const rows = await q
    .orderBy('created_at', dir)
    .orderBy('id', dir)
    .limit(page.limit + 1)
    .execute();
  const hasMore = rows.length > page.limit;
  const kept = rows.slice(0, page.limit);
  return { rows: newer ? kept.reverse() : kept, hasMore };
}

/** How many of a job's failed lines carry each of these error messages (the close's cancelled and expired records). */
export async function countFailedByMessage(db: Q, jobId: string, messages: string[]): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('job_results')
    .select(['error_message', (eb) => eb.fn.countAll<number>().as('n')])
    .where('job_id', '=', jobId)
    .where('ok', '=', 0)
    .where('error_message', 'in', messages)
    .groupBy('error_message')
    .execute();
  return new Map(rows.map((r) => [r.error_message ?? '', Number(r.n)]));
}

/** One page of every result line of a job (successes and failures together), in input order. */
export async function allResultsAfter(db: Q, jobId: string, after: number, limit: number) {
  return db
    .selectFrom('job_results')
    .select(['line_no', 'line'])
    .where('job_id', '=', jobId)
    .where('line_no', '>', after)
    .orderBy('line_no')
    .limit(limit)
    .execute();
}
