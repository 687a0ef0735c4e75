import { sql, type ExpressionBuilder, type Kysely, type Transaction } from 'kysely';
import type { Database, FileTable } from './schema.js';
import type { ChunkRange } from '../ingest/batch-file-validator.js';
import { chargeFile, refundFiles, type StorageQuota } from './storage-usage.js';

export type FileRow = FileTable;

export interface FileFilters {
  page: number;
  pageSize: number;
  sampleTypes?: string[];
  sources?: string[];
  search?: string;
  purpose?: string;
  mimetypes?: string[];
}

type Q = Kysely<Database> | Transaction<Database>;

/** A file that has not expired at `now` (expiry reads as deletion). */
export const notExpired = (now: number) => (eb: ExpressionBuilder<Database, 'files'>) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]);

/** Files a client may see: its workspace's, not deleted, not hidden, not expired. Every read goes through here. */
function visibleFiles(db: Q, workspace: string, now: number) {
  return db.selectFrom('files').where('workspace', '=', workspace).where('deleted_at', 'is', null).where('hidden', '=', 0).where(notExpired(now));
}

/**
 * The file row and its line chunks become visible together, in one transaction, charged
 * to the workspace's storage: within `quota` when one is given (else StorageQuotaExceeded
 * is thrown and nothing is inserted).
 */
export async function insertFile(db: Kysely<Database>, row: FileRow, chunks: ChunkRange[], quota?: StorageQuota): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await chargeFile(tx, row, quota);
    await tx.insertInto('files').values(row).execute();
    for (let i = 0; i < chunks.length; i += 200) {
      const slice = chunks.slice(i, i + 200).map((c) => ({ file_id: row.id, ...c }));
      await tx.insertInto('file_chunks').values(slice).execute();
    }
  });
}

export async function getFile(db: Q, workspace: string, id: string, now: number): Promise<FileRow | undefined> {
  return visibleFiles(db, workspace, now).selectAll().where('id', '=', id).executeTakeFirst();
}

/** How many line chunks a batch file has: a job over several files numbers its chunks after the previous file's. */
export async function countFileChunks(db: Q, fileId: string): Promise<number> {
  const row = await db
    .selectFrom('file_chunks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('file_id', '=', fileId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listFiles(db: Q, workspace: string, f: FileFilters, now: number) {
  let q = visibleFiles(db, workspace, now);
  if (f.sampleTypes?.length) q = q.where('sample_type', 'in', f.sampleTypes);
  if (f.sources?.length) q = q.where('source', 'in', f.sources);
  if (f.mimetypes?.length) q = q.where('mimetype', 'in', f.mimetypes);
  if (f.purpose) q = q.where('purpose', '=', f.purpose);
  if (f.search) {
    const pattern = `%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // Explicit ESCAPE and lower(): SQLite and PostgreSQL then match the same way.
    q = q.where((eb) => eb.or([sql<boolean>`lower(filename) like lower(${pattern}) escape '\\'`, eb('id', '=', f.search!)]));
  }
  const rows = await q
    .selectAll()
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(f.pageSize)
    .offset(f.page * f.pageSize)
    .execute();
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { rows, total };
}

/** Soft delete: the row stays for jobs that reference the blob, but no client sees the file again. */
export async function markFileDeleted(db: Q, workspace: string, id: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('files')
    .set({ deleted_at: now })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Removes a hidden input whose job was never created: its row, chunks and charge (the caller deletes the bytes). */
export async function deleteHiddenFile(db: Kysely<Database>, fileId: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const res = await tx.deleteFrom('files').where('id', '=', fileId).where('hidden', '=', 1).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) return;
    await tx.deleteFrom('file_chunks').where('file_id', '=', fileId).execute();
    await refundFiles(tx, [fileId]);
  });
}
