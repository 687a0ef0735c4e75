import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type { Db } from '../store/database.js';
import { blobSize, commitBlob, deleteBlob, deletePieces, insertPiece, readPiece } from '../store/blob-pieces.js';
import type { BlobStore, BlobWriter } from './blob-store.js';

/** 1 MiB pieces: large enough for few round trips, small enough to keep memory flat. */
export const PIECE_BYTES = 1024 * 1024;

/**
 * Blobs stored in the database (PostgreSQL for a cluster with no shared directory).
 * Bytes stream in and out one piece at a time; a blob is visible only after commit.
 */
export class DatabaseBlobStore implements BlobStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  createWriter(): BlobWriter {
    const key = randomUUID();
    const db = this.db;
    const now = this.now;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let seq = 0;
    let size = 0;
    let done = false;
    const writePiece = async (piece: Buffer) => {
      await insertPiece(db, key, seq++, piece, now());
    };
    const stream = new Writable({
      async write(chunk: Buffer, _enc, cb) {
        try {
          pending.push(chunk);
          pendingBytes += chunk.length;
          size += chunk.length;
          while (pendingBytes >= PIECE_BYTES) {
            const all = Buffer.concat(pending, pendingBytes);
            await writePiece(all.subarray(0, PIECE_BYTES));
            const rest = all.subarray(PIECE_BYTES);
            pending = rest.length ? [Buffer.from(rest)] : [];
            pendingBytes = rest.length;
          }
          cb();
        } catch (err) {
          cb(err as Error);
        }
      },
      async final(cb) {
        try {
          if (pendingBytes > 0) await writePiece(Buffer.concat(pending, pendingBytes));
          pending = [];
          pendingBytes = 0;
          cb();
        } catch (err) {
          cb(err as Error);
        }
      },
    });
    return {
      key,
      stream,
      commit: async () => {
        await commitBlob(db, key, size, now());
        done = true;
      },
      abort: async () => {
        if (done) return;
        done = true;
        stream.destroy();
        await deletePieces(db, key);
      },
    };
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    const db = this.db;
    async function* pieces() {
      const size = await blobSize(db, key);
      if (size === undefined) throw Object.assign(new Error(`blob ${key} not found`), { code: 'ENOENT' });
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size, size);
      for (let seq = Math.floor(start / PIECE_BYTES); seq * PIECE_BYTES < end; seq++) {
        const base = seq * PIECE_BYTES;
        const from = Math.max(0, start - base);
        const length = Math.min(PIECE_BYTES, end - base) - from;
        // Only the bytes asked for cross the wire: a chunk of a job is a small slice of a piece.
        yield await readPiece(db, key, seq, from, length);
      }
    }
    return Readable.from(pieces(), { objectMode: false });
  }

  async delete(key: string): Promise<void> {
    await deleteBlob(this.db, key);
  }
}
