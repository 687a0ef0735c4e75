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
 */
export async function* readChunk(blobs: BlobStore, chunk: ChunkRef): AsyncGenerator<ChunkLine> {
  let ready: ChunkLine[] = [];
  let lineNo = Number(chunk.first_line);
  const splitter = new LineSplitter(Number.MAX_SAFE_INTEGER, {
    line: (bytes) => {
      if (isBlank(bytes)) return;
      const parsed = parseBatchLine(bytes);
      ready.push(isProblem(parsed) ? { lineNo, request: null, problem: parsed.message } : { lineNo, request: parsed, problem: null });
      lineNo++;
    },
    overlong: () => undefined,
  });
  const stream = blobs.read(chunk.blob_key, { start: Number(chunk.byte_start), end: Number(chunk.byte_end) });
  // Hand over what each piece completed, then start a new list (shift() would copy the array per line).
  const drain = () => {
    const lines = ready;
    ready = [];
    return lines;
  };
  for await (const buf of stream) {
    splitter.push(buf as Buffer);
    yield* drain();
  }
  splitter.end();
  yield* drain();
}
