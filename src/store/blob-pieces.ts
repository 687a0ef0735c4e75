import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * The statements of the database blob store (src/blobs/database-blob-store.ts): bytes
 * in fixed-size pieces, readable once the blob's `blobs` row exists (commit).
 */

export async function insertPiece(db: Db, key: string, seq: number, data: Buffer, now: number): Promise<void> {
  await db.kysely.insertInto('blob_pieces').values({ blob_key: key, seq, data, created_at: now }).execute();
}

/** Makes a blob readable: its pieces are all written. */
export async function commitBlob(db: Db, key: string, size: number, now: number): Promise<void> {
  await db.kysely.insertInto('blobs').values({ blob_key: key, size, created_at: now }).execute();
}

/** The pieces of a blob never committed. */
export async function deletePieces(db: Db, key: string): Promise<void> {
  await db.kysely.deleteFrom('blob_pieces').where('blob_key', '=', key).execute();
}

export async function deleteBlob(db: Db, key: string): Promise<void> {
  await db.kysely.deleteFrom('blobs').where('blob_key', '=', key).execute();
  await deletePieces(db, key);
}

/** A committed blob's size; undefined if there is none. */
export async function blobSize(db: Db, key: string): Promise<number | undefined> {
  const blob = await db.kysely.selectFrom('blobs').select('size').where('blob_key', '=', key).executeTakeFirst();
  return blob ? Number(blob.size) : undefined;
}

/** `length` bytes of piece `seq` from offset `from`: only the bytes asked for cross the wire. */
export async function readPiece(db: Db, key: string, seq: number, from: number, length: number): Promise<Buffer> {
  const row = await db.kysely
    .selectFrom('blob_pieces')
    .select(sql<Buffer>`substr(data, ${from + 1}, ${length})`.as('part'))
    .where('blob_key', '=', key)
    .where('seq', '=', seq)
    .executeTakeFirstOrThrow();
  return Buffer.from(row.part);
}
