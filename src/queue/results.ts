import type { Q } from './types.js';

/** Reads of a job's terminal records: the job object's error groups and inline outputs, the result files' pages. */

export async function errorGroups(db: Q, jobId: string) {
  const rows = await db
    .selectFrom('job_results')
    .select(['error_message', (eb) => eb.fn.countAll<number>().as('n')])
    .where('job_id', '=', jobId)
    .where('ok', '=', 0)
    .groupBy('error_message')
    .orderBy('n', 'desc')
    .limit(100)
    .execute();
  return rows.map((r) => ({ message: r.error_message ?? 'unknown error', count: Number(r.n) }));
}

/** Every result line (success and error) in input order, up to `limit`. */
export async function resultLines(db: Q, jobId: string, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('job_results').select('line').where('job_id', '=', jobId).orderBy('line_no').limit(limit).execute();
  return rows.map((r) => r.line);
}

/** One page of a result file: the lines of one kind after `after`, in input order. */
export async function resultPage(db: Q, jobId: string, ok: boolean, after: number, limit: number) {
  return db
    .selectFrom('job_results')
    .select(['line_no', 'line'])
    .where('job_id', '=', jobId)
    .where('ok', '=', ok ? 1 : 0)
    .where('line_no', '>', after)
    .orderBy('line_no')
    .limit(limit)
    .execute();
}
