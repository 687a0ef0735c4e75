import { sql, type Kysely } from 'kysely';
import type { Database, JobResultTable } from '../../store/schema.js';
import type { StoreKind } from '../../store/database.js';
import { renderResultLine, type LineOutcome } from '../../results/render.js';
import { extendLease, type Lease } from './extend-lease.js';

export interface ResultFiles {
  output_file: string | null;
  error_file: string | null;
}

type ResultRow = Omit<JobResultTable, 'job_id' | 'created_at'> & {
  /** Bytes the line adds to its result file, newline included. */
  bytes: number;
};

/**
 * Rows per INSERT: statements have a parameter limit (SQLite 32,766, PostgreSQL 65,535)
 * and a row takes 7–8, so a large group is written in several statements.
 */
const ROWS_PER_STATEMENT = 500;

/**
 * Writes terminal records for a group of lines, fenced by the chunk's lease token.
 * The (job, line) key makes a second record for a line a no-op, and the chunk's
 * counters move by exactly the rows inserted, so counters always equal the records.
 * Only rows of this chunk are touched: workers never contend. Returns false once fenced
 * out: nothing more is written (on PostgreSQL a large group goes in several statements,
 * and those committed before the fence stand — they were written under a valid lease).
 */
export async function recordOutcomes(db: Kysely<Database>, kind: StoreKind, lease: Lease, outcomes: LineOutcome[], now: number, leaseMs: number): Promise<boolean> {
  if (outcomes.length === 0) return true;
  // One row per line even if a caller passed a line twice: the counters add the rows inserted.
  const byLine = new Map<number, ResultRow>();
  for (const o of outcomes) {
    if (byLine.has(o.lineNo)) continue;
    const line = renderResultLine(lease.job_id, o);
    byLine.set(o.lineNo, {
      line_no: o.lineNo,
      ok: o.ok ? 1 : 0,
      line,
      error_message: o.error?.message ?? null,
      prompt_tokens: o.promptTokens,
      completion_tokens: o.completionTokens,
      bytes: Buffer.byteLength(line) + 1,
    });
  }
  const rows = [...byLine.values()];
  if (kind === 'sqlite') return recordInTransaction(db, lease, rows, now, leaseMs);
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    if (!(await recordInOneStatement(db, lease, rows.slice(i, i + ROWS_PER_STATEMENT), now, leaseMs))) return false;
  }
  return true;
}

/** SQLite: in-process, so the steps cost no round trips; one IMMEDIATE transaction. */
function recordInTransaction(db: Kysely<Database>, lease: Lease, rows: ResultRow[], now: number, leaseMs: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
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
  });
}

/**
 * PostgreSQL: the same four steps as one statement, one round trip instead of five
 * (BEGIN, lease, insert, counters, COMMIT), which is most of a worker's CPU per flush.
 * `held` locks the chunk row only while the token still matches (a closer that
 * re-fenced it first makes it empty, so nothing is inserted or counted); the final
 * UPDATE extends the lease and adds exactly the rows `ins` inserted.
 */
async function recordInOneStatement(db: Kysely<Database>, lease: Lease, rows: ResultRow[], now: number, leaseMs: number): Promise<boolean> {
  const values = sql.join(
    rows.map(
      (r) =>
        sql`(${r.line_no}::bigint, ${r.ok}::integer, ${r.line}::text, ${r.error_message}::text, ${r.prompt_tokens}::bigint, ${r.completion_tokens}::bigint, ${r.bytes}::bigint)`,
    ),
  );
  const res = await sql<{ held: number }>`
    with held as (
      select 1 from job_chunks
      where job_id = ${lease.job_id} and chunk_no = ${lease.chunk_no} and lease_token = ${lease.token} and state = 'leased'
      for update
    ),
    v (line_no, ok, line, error_message, prompt_tokens, completion_tokens, bytes) as (values ${values}),
    ins as (
      insert into job_results (job_id, line_no, ok, line, error_message, prompt_tokens, completion_tokens, created_at)
      select ${lease.job_id}, line_no, ok, line, error_message, prompt_tokens, completion_tokens, ${now}::bigint
      from v where exists (select 1 from held)
      on conflict (job_id, line_no) do nothing
      returning line_no
    ),
    t as (
      select count(*) filter (where v.ok = 1) as ok, count(*) filter (where v.ok = 0) as failed,
        coalesce(sum(v.prompt_tokens), 0) as prompt, coalesce(sum(v.completion_tokens), 0) as completion,
        coalesce(sum(v.bytes) filter (where v.ok = 1), 0) as ok_bytes, coalesce(sum(v.bytes) filter (where v.ok = 0), 0) as err_bytes
      from v join ins using (line_no)
    )
    update job_chunks c set
      lease_expires_at = ${now + leaseMs}::bigint,
      succeeded = c.succeeded + t.ok, failed = c.failed + t.failed,
      prompt_tokens = c.prompt_tokens + t.prompt, completion_tokens = c.completion_tokens + t.completion,
      ok_bytes = c.ok_bytes + t.ok_bytes, err_bytes = c.err_bytes + t.err_bytes
    from t
    where c.job_id = ${lease.job_id} and c.chunk_no = ${lease.chunk_no} and c.lease_token = ${lease.token} and exists (select 1 from held)
    returning 1 as held`.execute(db);
  return res.rows.length === 1;
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
