import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { LineOutcome } from '../results/render.js';
import type { LineFormat } from '../dialects/types.js';
import { lineFormatOf } from '../dialects/line-formats.js';
import type { QueueDialect } from './dialect.js';
import type { ResultRow } from './record-rows.js';
import type { Lease, Q } from './types.js';

/**
 * Writes terminal records for a group of lines, fenced by the chunk's lease token.
 * The (job, line) key makes a second record for a line a no-op, and the chunk's
 * counters move by exactly the rows inserted, so counters always equal the records.
 * Only rows of this chunk are touched: workers never contend. Returns false once fenced
 * out: nothing more is written (on PostgreSQL a large group goes in several statements,
 * and those committed before the fence stand — they were written under a valid lease).
 */
export async function recordOutcomes(
  db: Kysely<Database>,
  dialect: QueueDialect,
  lease: Lease,
  outcomes: LineOutcome[],
  now: number,
  leaseMs: number,
  /** The job's dialect's result line shape (Mistral's by default). */
  format: LineFormat = lineFormatOf('mistral'),
): Promise<boolean> {
  if (outcomes.length === 0) return true;
  // One row per line even if a caller passed a line twice: the counters add the rows inserted.
  const byLine = new Map<number, ResultRow>();
  for (const o of outcomes) {
    if (byLine.has(o.lineNo)) continue;
    const line = format.render(lease.job_id, o);
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
  return dialect.recordRows(db, lease, [...byLine.values()], now, leaseMs);
}

/** Which lines of a range already have a terminal record (work a crashed attempt finished). */
export async function recordedLines(db: Q, jobId: string, from: number, count: number): Promise<Set<number>> {
  const rows = await db
    .selectFrom('job_results')
    .select('line_no')
    .where('job_id', '=', jobId)
    .where('line_no', '>=', from)
    .where('line_no', '<', from + count)
    .execute();
  return new Set(rows.map((r) => Number(r.line_no)));
}
