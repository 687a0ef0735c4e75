import type { BlobStore } from '../blobs/blob-store.js';
import { readChunk, type ChunkLine } from '../ingest/chunk-reader.js';
import type { JobInput, Q } from './types.js';

/**
 * The lines of a job's inputs, before (or without) a job: each input file's chunk
 * table read in order, its lines streamed from the blob, numbered as the job would
 * number them. Memory holds one chunk's lines at most (estimates, api/job-estimate.ts).
 */
export async function* inputLines(db: Q, blobs: BlobStore, inputs: JobInput[]): AsyncGenerator<ChunkLine> {
  for (const input of inputs) {
    const chunks = await db
      .selectFrom('file_chunks')
      .select(['byte_start', 'byte_end', 'first_line'])
      .where('file_id', '=', input.fileId)
      .orderBy('chunk_no')
      .execute();
    for (const c of chunks) {
      yield* readChunk(blobs, { blob_key: input.blobKey, byte_start: c.byte_start, byte_end: c.byte_end, first_line: Number(c.first_line) + input.lineOffset });
    }
  }
}
