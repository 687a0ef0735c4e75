import type { Readable, Writable } from 'node:stream';

/**
 * Where file bytes live. Keys are opaque; a blob is written once through a writer,
 * becomes readable only after `commit()` (so a crash mid-upload never leaves a usable
 * blob), and is read back as a stream, whole or by byte range.
 */
export interface BlobStore {
  createWriter(): BlobWriter;
  /** Bytes [start, end) of the blob; the whole blob without a range. */
  read(key: string, range?: { start: number; end: number }): Readable;
  delete(key: string): Promise<void>;
}

export interface BlobWriter {
  readonly key: string;
  /** The stream to pipe bytes into; it honours backpressure. */
  readonly stream: Writable;
  /** Makes the written bytes durable and readable under `key`. Call after `stream` finished. */
  commit(): Promise<void>;
  /** Throws away whatever was written. Safe to call more than once. */
  abort(): Promise<void>;
}
