import type { HttpErrorCode } from '../error-catalogue.js';
import { CustomIdSet } from './custom-id-set.js';
import { LineSplitter } from './line-splitter.js';
import { isBlank, isProblem, parseBatchLine } from './batch-line.js';

export interface LineError {
  /** 1-based physical line number in the file. */
  line: number;
  code: HttpErrorCode;
  message: string;
}

/** A run of requests a job's worker claims as one unit; recorded while the file streams in. */
export interface ChunkRange {
  chunk_no: number;
  byte_start: number;
  byte_end: number;
  /** 0-based index of the chunk's first request within the file. */
  first_line: number;
  line_count: number;
}

export interface ValidationSummary {
  bytes: number;
  /** Requests (valid non-blank lines). */
  requests: number;
  /** Non-blank lines, valid or not: num_lines for files of other purposes. */
  lines: number;
  errors: LineError[];
  /** How many lines were invalid in all (errors keeps only the first few). */
  errorCount: number;
  /** How many of those were longer than the line limit (the only invalid lines chunks cannot hold). */
  overlongLines: number;
  chunks: ChunkRange[];
}

const MAX_REPORTED_ERRORS = 10;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Validates a batch input file as it streams: every non-blank line must be a JSON
 * object with a `body` object and an optional string `custom_id`, unique within the
 * file. Blank lines are skipped; a UTF-8 BOM and CRLF line ends are accepted.
 *
 * An invalid line (but an overlong one) is a request of the chunks all the same: a file
 * kept with invalid lines (an OpenAI client's, api/files.ts) runs each as a failed line,
 * and one refused at upload never uses its chunks.
 */
export class BatchFileValidator {
  private readonly splitter: LineSplitter;
  private readonly ids = new CustomIdSet();
  private physicalLine = 0;
  private requests = 0;
  private lines = 0;
  private bytes = 0;
  private errorCount = 0;
  private overlongLines = 0;
  private readonly errors: LineError[] = [];
  private readonly chunks: ChunkRange[] = [];
  private open: ChunkRange | null = null;

  constructor(private readonly opts: { maxLineBytes: number; chunkLines: number }) {
    this.splitter = new LineSplitter(opts.maxLineBytes, {
      line: (bytes, start, end) => this.onLine(bytes, start, end),
      overlong: () => {
        this.physicalLine++;
        this.lines++;
        this.overlongLines++;
        this.fail('line_too_long', `is longer than the ${formatBytes(opts.maxLineBytes)} line limit`);
      },
    });
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.splitter.push(chunk);
  }

  end(): ValidationSummary {
    this.splitter.end();
    this.closeChunk();
    if (this.requests === 0 && this.errorCount === 0) {
      this.errorCount++;
      this.errors.push({ line: 0, code: 'empty_file', message: 'the file contains no requests: expected one JSON object per line' });
    }
    const { bytes, requests, lines, errors, errorCount, overlongLines, chunks } = this;
    return { bytes, requests, lines, errors, errorCount, overlongLines, chunks };
  }

  private onLine(raw: Buffer, start: number, end: number) {
    this.physicalLine++;
    let bytes = raw;
    if (start === 0 && raw.subarray(0, 3).equals(BOM)) {
      bytes = raw.subarray(3);
      start = 3;
    }
    if (isBlank(bytes)) return;
    this.lines++;
    const parsed = parseBatchLine(bytes);
    if (isProblem(parsed)) this.fail(parsed.code, parsed.message);
    else if (parsed.custom_id !== null) {
      const first = this.ids.add(parsed.custom_id, this.physicalLine);
      if (first !== null) this.fail('duplicate_custom_id', `repeats custom_id ${JSON.stringify(truncate(parsed.custom_id))} already used on line ${first}`);
    }
    this.addToChunk(start, end);
  }

  private addToChunk(start: number, end: number) {
    if (!this.open) {
      this.open = { chunk_no: this.chunks.length, byte_start: start, byte_end: end, first_line: this.requests, line_count: 0 };
    }
    this.open.byte_end = end;
    this.open.line_count++;
    this.requests++;
    if (this.open.line_count >= this.opts.chunkLines) this.closeChunk();
  }

  private closeChunk() {
    if (this.open) this.chunks.push(this.open);
    this.open = null;
  }

  private fail(code: HttpErrorCode, message: string) {
    this.errorCount++;
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push({ line: this.physicalLine, code, message });
  }
}

const truncate = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} bytes`;
}
