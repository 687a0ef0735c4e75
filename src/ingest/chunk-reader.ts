import type { BlobStore } from '../blobs/blob-store.js';
import { LineSplitter } from './line-splitter.js';
import { isBlank, isProblem, parseBatchLine, type BatchLine } from './batch-line.js';

export interface ChunkLine {
  /** 0-based index of the request within the job. */
  lineNo: number;
  request: BatchLine | null;
  /** Why the line cannot run (it was valid at upload, so only if the blob was damaged). */
  problem: string | null;
}

export interface ChunkRef {
  blob_key: string;
  byte_start: number;
  byte_end: number;
  first_line: number;
}

/**
 * Streams the requests of one chunk from its blob range, in order, parsed by the same
 * function the upload validator used; blank lines are skipped as they were at upload.
 * Each line is parsed as it is taken, not when its piece of the blob arrives: a piece
 * holds hundreds of lines, and parsing them all at once would hold the event loop (online
 * calls share it) for milliseconds while the runner only needs the next one.
 */
export async function* readChunk(blobs: BlobStore, chunk: ChunkRef): AsyncGenerator<ChunkLine> {
  let ready: Buffer[] = [];
  let lineNo = Number(chunk.first_line);
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER, {
    line: (bytes) => {
      if (!isBlank(bytes)) ready.push(bytes);
    },
    overlong: () => undefined,
  });
  const parse = (bytes: Buffer): ChunkLine => {
    const parsed = parseBatchLine(bytes);
    return isProblem(parsed) ? { lineNo: lineNo++, request: null, problem: parsed.message } : { lineNo: lineNo++, request: parsed, problem: null };
  };
  const stream = blobs.read(chunk.blob_key, { start: Number(chunk.byte_start), end: Number(chunk.byte_end) });
  // Hand over what each piece completed, then start a new list (shift() would copy the array per line).
  const drain = () => {
    const lines = ready;
    ready = [];
    return lines;
  };
  for await (const buf of stream) {
    splitter.push(buf as Buffer);
    for (const bytes of drain()) yield parse(bytes);
  }
  splitter.end();
  for (const bytes of drain()) yield parse(bytes);
}
