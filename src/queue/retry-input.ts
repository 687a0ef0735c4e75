import type { BlobStore } from '../blobs/blob-store.js';
import type { BatchLine } from '../ingest/batch-line.js';
import { readChunk } from '../ingest/chunk-reader.js';
import { notExpired } from '../store/files.js';
import type { Q } from './types.js';

/**
 * The failed requests of a finished job, read from its chunks in order and streamed
 * (never held whole in memory); null when an input it read was deleted or has expired,
 * so its bytes, and the failed requests with them, are gone.
 */
export async function failedRequests(db: Q, blobs: BlobStore, jobId: string, now: number): Promise<AsyncGenerator<BatchLine> | null> {
  const chunks = await db.selectFrom('job_chunks').selectAll().where('job_id', '=', jobId).orderBy('chunk_no').execute();
  // The failed lines are read from the job's inputs: a deleted (or expired) input has given its bytes back.
  const keys = [...new Set(chunks.map((c) => c.blob_key))];
  const live = keys.length
    ? await db.selectFrom('files').select('blob_key').where('blob_key', 'in', keys).where('deleted_at', 'is', null).where(notExpired(now)).execute()
    : [];
  if (live.length < keys.length) return null;
  async function* failed(): AsyncGenerator<BatchLine> {
    for (const chunk of chunks) {
      const bad = await db
        .selectFrom('job_results')
        .select('line_no')
        .where('job_id', '=', jobId)
        .where('ok', '=', 0)
        .where('line_no', '>=', Number(chunk.first_line))
        .where('line_no', '<', Number(chunk.first_line) + chunk.line_count)
        .execute();
      if (bad.length === 0) continue;
      const wanted = new Set(bad.map((r) => Number(r.line_no)));
      for await (const line of readChunk(blobs, chunk)) if (line.request && wanted.has(line.lineNo)) yield line.request;
    }
  }
  return failed();
}
