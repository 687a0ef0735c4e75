import { sql, type Kysely } from 'kysely';
import type { Database } from '../../store/schema.js';
import { renderResultLine, type LineOutcome } from '../../results/render.js';
import { extendLease, type Lease } from './extend-lease.js';

export interface ResultFiles {
  output_file: string | null;
  error_file: string | null;
}

/**
 * Writes terminal records for a group of lines in one transaction, fenced by the
 * chunk's lease token. The (job, line) key makes a second record for a line a no-op,
 * and the chunk's counters move by exactly the rows inserted, so counters always equal
 * the records. The transaction touches only rows of this chunk: workers never contend.
 * Returns false (nothing written) if fenced out.
 */
export async function recordOutcomes(db: Kysely<Database>, lease: Lease, outcomes: LineOutcome[], now: number, leaseMs: number): Promise<boolean> {
  if (outcomes.length === 0) return true;
  return db.transaction().execute(async (tx) => {
    if (!(await extendLease(tx, lease, now + leaseMs))) return false;
    const rows = outcomes.map((o) => ({
      job_id: lease.job_id,
      line_no: o.lineNo,
      ok: o.ok ? 1 : 0,
      line: renderResultLine(lease.job_id, o),
      error_message: o.error?.message ?? null,
      prompt_tokens: o.promptTokens,
      completion_tokens: o.completionTokens,
      created_at: now,
    }));
    const inserted = await tx
      .insertInto('job_results')
      .values(rows)
      .onConflict((oc) => oc.columns(['job_id', 'line_no']).doNothing())
      .returning('line_no')
      .execute();
    if (inserted.length === 0) return true;
    const fresh = new Set(inserted.map((r) => Number(r.line_no)));
    let ok = 0, failed = 0, prompt = 0, completion = 0, okBytes = 0, errBytes = 0;
    for (const r of rows) {
      if (!fresh.has(r.line_no)) continue;
      const bytes = Buffer.byteLength(r.line) + 1;
      if (r.ok) (ok++, (okBytes += bytes));
      else (failed++, (errBytes += bytes));
      prompt += r.prompt_tokens;
      completion += r.completion_tokens;
    }
    await tx
      .updateTable('job_chunks')
      .set({
        succeeded: sql`succeeded + ${ok}`,
        failed: sql`failed + ${failed}`,
        prompt_tokens: sql`prompt_tokens + ${prompt}`,
        completion_tokens: sql`completion_tokens + ${completion}`,
        ok_bytes: sql`ok_bytes + ${okBytes}`,
        err_bytes: sql`err_bytes + ${errBytes}`,
      })
      .where('job_id', '=', lease.job_id)
      .where('chunk_no', '=', lease.chunk_no)
      .execute();
    return true;
  });
}

/** Which lines of a range already have a terminal record (work a crashed attempt finished). */
export async function recordedLines(db: Kysely<Database>, jobId: string, from: number, count: number): Promise<Set<number>> {
  const rows = await db
    .selectFrom('job_results')
    .select('line_no')
    .where('job_id', '=', jobId)
    .where('line_no', '>=', from)
    .where('line_no', '<', from + count)
    .execute();
  return new Set(rows.map((r) => Number(r.line_no)));
}
