import { Readable } from 'node:stream';
import type { Queue } from '../queue/index.js';

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
  constructor(private readonly queue: Queue) {}

  async errorGroups(jobId: string): Promise<ErrorGroup[]> {
    return this.queue.errorGroups(jobId);
  }

  /** Every result (success and error) in input order, parsed: the job's `outputs`. */
  async outputs(jobId: string, limit: number): Promise<Record<string, unknown>[]> {
    return (await this.queue.resultLines(jobId, limit)).map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** The bytes of a result file: its lines, newline-terminated, in input order. */
  stream(jobId: string, kind: 'output' | 'error'): Readable {
    const queue = this.queue;
    async function* lines() {
      let after = -1;
      for (;;) {
        const rows = await queue.resultPage(jobId, kind === 'output', after, PAGE);
        if (rows.length === 0) return;
        yield Buffer.from(rows.map((r) => `${r.line}\n`).join(''), 'utf8');
        after = Number(rows[rows.length - 1]!.line_no);
        if (rows.length < PAGE) return;
      }
    }
    return Readable.from(lines(), { objectMode: false });
  }
}
