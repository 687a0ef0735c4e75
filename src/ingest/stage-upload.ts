import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, BlobWriter } from '../blobs/blob-store.js';
import type { ValidationSummary } from './batch-file-validator.js';
import { localCheck, type UploadCheck } from './validation-pool.js';
import type { BatchLine } from './batch-line.js';

export interface StagedUpload {
  writer: BlobWriter;
  summary: ValidationSummary;
  /** First 16 hex chars of the content's BLAKE2b-512, Mistral's `signature` field (a content fingerprint). */
  signature: string;
}

/** Sees every piece of an upload before it is stored; an error returned aborts the upload (a quota crossed). */
export type UploadMeter = (bytes: number) => Error | undefined;

/**
 * Streams an upload into a blob while validating it as a batch file and hashing it,
 * in one pass with backpressure: memory stays bounded whatever the file size. The form
 * may name the purpose only after the file part, so every upload is validated and the
 * verdict is applied once the purpose is known. The blob is not committed here. A
 * `meter` error stops the upload at the piece that caused it: nothing more is read,
 * and what was written is thrown away.
 */
export async function stageUpload(source: Readable, blobs: BlobStore, check: UploadCheck, meter?: UploadMeter): Promise<StagedUpload> {
  const writer = blobs.createWriter();
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const stop = meter?.(chunk.length);
      if (stop) return cb(stop);
      const wait = check.push(chunk);
      if (wait) wait.then(() => cb(null, chunk), cb);
      else cb(null, chunk);
    },
  });
  try {
    await pipeline(source, tap, writer.stream);
    const { summary, signature } = await check.end();
    return { writer, summary, signature };
  } catch (err) {
    check.abort();
    await writer.abort();
    throw err;
  }
}

/** Stores requests produced in-process (inline requests, retries) as JSONL, validated exactly like an upload. */
export function stageRequests(requests: Iterable<BatchLine> | AsyncIterable<BatchLine>, blobs: BlobStore, opts: { maxLineBytes: number; chunkLines: number }) {
  const bytes = Readable.from(
    (async function* () {
      for await (const r of requests) {
        const line = r.custom_id === null ? { body: r.body } : { custom_id: r.custom_id, body: r.body };
        yield Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
      }
    })(),
  );
  return stageUpload(bytes, blobs, localCheck(opts));
}
