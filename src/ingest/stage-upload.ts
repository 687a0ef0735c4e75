import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, BlobWriter } from '../blobs/blob-store.js';
import { BatchFileValidator, type ValidationSummary } from './batch-file-validator.js';

export interface StagedUpload {
  writer: BlobWriter;
  summary: ValidationSummary;
  /** First 16 hex chars of the content's sha256, Mistral's `signature` field. */
  signature: string;
}

/**
 * Streams an upload into a blob while validating it as a batch file and hashing it,
 * in one pass with backpressure: memory stays bounded whatever the file size. The form
 * may name the purpose only after the file part, so every upload is validated and the
 * verdict is applied once the purpose is known. The blob is not committed here.
 */
export async function stageUpload(source: Readable, blobs: BlobStore, opts: { maxLineBytes: number; chunkLines: number }): Promise<StagedUpload> {
  const writer = blobs.createWriter();
  const validator = new BatchFileValidator(opts);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      validator.push(chunk);
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(source, tap, writer.stream);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return { writer, summary: validator.end(), signature: hash.digest('hex').slice(0, 16) };
}

/** Validates and stores bytes produced in-process (inline requests) exactly like an upload. */
export async function stageBytes(lines: Iterable<string>, blobs: BlobStore, opts: { maxLineBytes: number; chunkLines: number }) {
  const { Readable: R } = await import('node:stream');
  return stageUpload(R.from((function* () {
    for (const l of lines) yield Buffer.from(`${l}\n`, 'utf8');
  })()), blobs, opts);
}
