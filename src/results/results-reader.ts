import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

export interface ErrorGroup {
  message: string;
  count: number;
}

const PAGE = 1000;

/**
 * Reads a job's terminal records: grouped errors for the job object, inline outputs,
 * and the output/error file bytes, streamed page by page in input order.
 */
export class ResultsReader {
  constructor(private readonly db: Kysely<Database>) {}

  async errorGroups(jobId: string): Promise<ErrorGroup[]> {
    const rows = await this.db
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

  /** Every result (success and error) in input order, parsed: the job's `outputs`. */
  async outputs(jobId: string, limit: number): Promise<Record<string, unknown>[]> {
    const rows = await this.db
      .selectFrom('job_results')
      .select('line')
      .where('job_id', '=', jobId)
      .orderBy('line_no')
      .limit(limit)
      .execute();
    return rows.map((r) => JSON.parse(r.line) as Record<string, unknown>);
  }

  /** The bytes of a result file: its lines, newline-terminated, in input order. */
  stream(jobId: string, kind: 'output' | 'error'): Readable {
    const db = this.db;
    async function* lines() {
      let after = -1;
      for (;;) {
        const rows = await db
          .selectFrom('job_results')
          .select(['line_no', 'line'])
          .where('job_id', '=', jobId)
          .where('ok', '=', kind === 'output' ? 1 : 0)
          .where('line_no', '>', after)
          .orderBy('line_no')
          .limit(PAGE)
          .execute();
        if (rows.length === 0) return;
        yield Buffer.from(rows.map((r) => `${r.line}\n`).join(''), 'utf8');
        after = Number(rows[rows.length - 1]!.line_no);
        if (rows.length < PAGE) return;
      }
    }
    return Readable.from(lines(), { objectMode: false });
  }
}
