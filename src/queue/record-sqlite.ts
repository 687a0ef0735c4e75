import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { relaxedCommits } from '../store/sqlite/sqlite-database.js';
import { extendLease } from './lease.js';
import { ROWS_PER_STATEMENT, type ResultRow } from './record-rows.js';
import type { Lease } from './types.js';

/** SQLite: in-process, so the steps cost no round trips; one IMMEDIATE transaction. */
export function recordInTransaction(db: Kysely<Database>, lease: Lease, rows: ResultRow[], now: number, leaseMs: number): Promise<boolean> {
  // Not fsynced at commit: relaxedCommits explains why that is safe for result records only.
  return relaxedCommits(() =>
    db.transaction().execute(async (tx) => {
      if (!(await extendLease(tx, lease, now + leaseMs))) return false;
      const fresh = new Set<number>();
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const inserted = await tx
          .insertInto('job_results')
          .values(rows.slice(i, i + ROWS_PER_STATEMENT).map(({ bytes: _bytes, ...r }) => ({ ...r, job_id: lease.job_id, created_at: now })))
          .onConflict((oc) => oc.columns(['job_id', 'line_no']).doNothing())
          .returning('line_no')
          .execute();
        for (const r of inserted) fresh.add(Number(r.line_no));
      }
      if (fresh.size === 0) return true;
      const t = { ok: 0, failed: 0, prompt: 0, completion: 0, okBytes: 0, errBytes: 0 };
      for (const r of rows) {
        if (!fresh.has(r.line_no)) continue;
        if (r.ok) (t.ok++, (t.okBytes += r.bytes));
        else (t.failed++, (t.errBytes += r.bytes));
        t.prompt += r.prompt_tokens;
        t.completion += r.completion_tokens;
      }
      await tx
        .updateTable('job_chunks')
        .set({
          succeeded: sql`succeeded + ${t.ok}`,
          failed: sql`failed + ${t.failed}`,
          prompt_tokens: sql`prompt_tokens + ${t.prompt}`,
          completion_tokens: sql`completion_tokens + ${t.completion}`,
          ok_bytes: sql`ok_bytes + ${t.okBytes}`,
          err_bytes: sql`err_bytes + ${t.errBytes}`,
        })
        .where('job_id', '=', lease.job_id)
        .where('chunk_no', '=', lease.chunk_no)
        .execute();
      return true;
    }),
  );
}
