import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { relaxedTransaction } from '../store/sqlite/sqlite-database.js';
import type { ResultRow } from './record-rows.js';
import { ChunkState } from './states.js';
import type { Lease } from './types.js';

/**
 * The three statements of a record, prepared once per connection: Kysely would build,
 * compile and bind a query object per call, which was most of a flush's CPU time.
 * `fence` is lease.ts's extendLease in SQL: it moves the lease only while the caller
 * still holds it (same chunk, same token, still leased).
 */
const SQL = {
  fence: `update job_chunks set lease_expires_at = @expires
    where job_id = @job_id and chunk_no = @chunk_no and lease_token = @token and state = '${ChunkState.LEASED}'`,
  insert: `insert into job_results (job_id, line_no, ok, line, error_message, prompt_tokens, completion_tokens, created_at)
    values (@job_id, @line_no, @ok, @line, @error_message, @prompt_tokens, @completion_tokens, @created_at)
    on conflict (job_id, line_no) do nothing`,
  count: `update job_chunks set succeeded = succeeded + @ok, failed = failed + @failed,
    prompt_tokens = prompt_tokens + @prompt, completion_tokens = completion_tokens + @completion,
    ok_bytes = ok_bytes + @okBytes, err_bytes = err_bytes + @errBytes
    where job_id = @job_id and chunk_no = @chunk_no`,
};

type Statements = Record<keyof typeof SQL, BetterSqlite3.Statement>;
const prepared = new WeakMap<BetterSqlite3.Database, Statements>();

function statementsOf(sqlite: BetterSqlite3.Database): Statements {
  let s = prepared.get(sqlite);
  if (!s) {
    s = { fence: sqlite.prepare(SQL.fence), insert: sqlite.prepare(SQL.insert), count: sqlite.prepare(SQL.count) };
    prepared.set(sqlite, s);
  }
  return s;
}

/**
 * SQLite: in-process, so the steps cost no round trips; one IMMEDIATE transaction, run
 * synchronously. Fenced out, nothing is written. The counters move by the rows inserted
 * (a line already recorded inserts nothing), so they always equal the records.
 */
export function recordInTransaction(db: Kysely<Database>, lease: Lease, rows: ResultRow[], now: number, leaseMs: number): Promise<boolean> {
  // Not fsynced at commit: relaxedTransaction explains why that is safe for result records only.
  return relaxedTransaction(db, (sqlite) => {
    const s = statementsOf(sqlite);
    const chunk = { job_id: lease.job_id, chunk_no: lease.chunk_no };
    if (s.fence.run({ ...chunk, token: lease.token, expires: now + leaseMs }).changes !== 1) return false;
    const t = { ...chunk, ok: 0, failed: 0, prompt: 0, completion: 0, okBytes: 0, errBytes: 0 };
    let fresh = 0;
    for (const r of rows) {
      if (s.insert.run({ ...r, job_id: lease.job_id, created_at: now }).changes === 0) continue;
      fresh++;
      if (r.ok) (t.ok++, (t.okBytes += r.bytes));
      else (t.failed++, (t.errBytes += r.bytes));
      t.prompt += r.prompt_tokens;
      t.completion += r.completion_tokens;
    }
    if (fresh > 0) s.count.run(t);
    return true;
  });
}
