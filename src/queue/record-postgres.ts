import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { ROWS_PER_STATEMENT, type ResultRow } from './record-rows.js';
import { ChunkState } from './states.js';
import type { Lease } from './types.js';

/** PostgreSQL: a large group in statements of ROWS_PER_STATEMENT rows; stops at the first one fenced out. */
export async function recordInStatements(db: Kysely<Database>, lease: Lease, rows: ResultRow[], now: number, leaseMs: number): Promise<boolean> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    if (!(await recordInOneStatement(db, lease, rows.slice(i, i + ROWS_PER_STATEMENT), now, leaseMs))) return false;
  }
  return true;
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
      where job_id = ${lease.job_id} and chunk_no = ${lease.chunk_no} and lease_token = ${lease.token} and state = ${sql.lit(ChunkState.LEASED)}
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
