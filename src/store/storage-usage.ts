import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { UNFINISHED_STATUSES } from '../queue/states.js';

type Q = Kysely<Database> | Transaction<Database>;

/** A workspace's quota; 0 = no limit. */
export interface StorageQuota {
  maxBytes: number;
  maxFiles: number;
}

export interface StorageUsage {
  /** Bytes of the files charged to the workspace (uploads, hidden inputs, finished jobs' results). */
  bytes: number;
  files: number;
  /** Result bytes of the workspace's unfinished jobs, not charged yet but already stored. */
  liveBytes: number;
}

/** An upload (or hidden input) that its workspace's quota has no room for; nothing was stored. */
export class StorageQuotaExceeded extends Error {
  constructor(
    readonly kind: 'bytes' | 'files',
    readonly usage: StorageUsage,
    readonly requested: number,
  ) {
    super(`storage quota exceeded (${kind})`);
  }
}

export async function readUsage(db: Q, workspace: string): Promise<StorageUsage> {
  const row = await db.selectFrom('storage_usage').select(['bytes', 'files']).where('workspace', '=', workspace).executeTakeFirst();
  return { bytes: Number(row?.bytes ?? 0), files: Number(row?.files ?? 0), liveBytes: await liveResultBytes(db, workspace) };
}

/** Result bytes written so far by the workspace's unfinished jobs. */
async function liveResultBytes(db: Q, workspace: string): Promise<number> {
  const row = await db
    .selectFrom('job_chunks as c')
    .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
    .select(sql<number>`coalesce(sum(c.ok_bytes + c.err_bytes), 0)`.as('n'))
    .where('j.workspace', '=', workspace)
    .where('j.status', 'in', UNFINISHED_STATUSES)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Charges one new file to its workspace inside the transaction that inserts it. With a
 * quota, the increment is conditional: on PostgreSQL the update waits for any other
 * charge of the workspace and re-checks the condition against its result, and SQLite
 * writers are serialised, so two concurrent uploads can never both pass a quota only
 * one of them fits. Throws StorageQuotaExceeded (the transaction then rolls back).
 */
export async function chargeFile(tx: Transaction<Database>, file: { id: string; workspace: string; bytes: number }, quota?: StorageQuota): Promise<void> {
  await ensureUsageRow(tx, file.workspace);
  const bytes = Number(file.bytes);
  const live = quota?.maxBytes ? await liveResultBytes(tx, file.workspace) : 0;
  let update = tx
    .updateTable('storage_usage')
    .set((eb) => ({ bytes: eb('bytes', '+', bytes), files: eb('files', '+', 1) }))
    .where('workspace', '=', file.workspace);
  if (quota?.maxBytes) update = update.where(sql<number>`bytes + ${bytes + live}`, '<=', quota.maxBytes);
  if (quota?.maxFiles) update = update.where(sql<number>`files + 1`, '<=', quota.maxFiles);
  const res = await update.executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) {
    const usage = await readUsage(tx, file.workspace);
    const overFiles = quota?.maxFiles && usage.files + 1 > quota.maxFiles;
    throw new StorageQuotaExceeded(overFiles ? 'files' : 'bytes', usage, bytes);
  }
  await tx.insertInto('storage_charges').values({ file_id: file.id, workspace: file.workspace, bytes }).execute();
}

/**
 * Charges a finished job's result files, unconditionally: a job is never refused or
 * failed for its own results, which may take the workspace past its quota (further
 * uploads are then refused until something is deleted).
 */
export async function chargeResultFiles(
  tx: Transaction<Database> | Kysely<Database>,
  workspace: string,
  files: { id: string; bytes: number }[],
): Promise<void> {
  if (files.length === 0) return;
  await ensureUsageRow(tx, workspace);
  // A file already charged is not charged twice (only the inserted rows are counted).
  const added = await tx
    .insertInto('storage_charges')
    .values(files.map((f) => ({ file_id: f.id, workspace, bytes: Number(f.bytes) })))
    .onConflict((oc) => oc.column('file_id').doNothing())
    .returning('bytes')
    .execute();
  if (added.length === 0) return;
  const bytes = added.reduce((sum, f) => sum + Number(f.bytes), 0);
  await tx
    .updateTable('storage_usage')
    .set((eb) => ({ bytes: eb('bytes', '+', bytes), files: eb('files', '+', added.length) }))
    .where('workspace', '=', workspace)
    .execute();
}

/**
 * Gives back what these files were charged. Deleting the charge row is the guard: of
 * several processes refunding one file, only the one whose delete removed the row
 * subtracts it, so usage stays the exact sum of the charges.
 */
export async function refundFiles(tx: Transaction<Database>, fileIds: string[]): Promise<void> {
  if (fileIds.length === 0) return;
  const gone = await tx.deleteFrom('storage_charges').where('file_id', 'in', fileIds).returning(['workspace', 'bytes']).execute();
  const byWorkspace = new Map<string, { bytes: number; files: number }>();
  for (const g of gone) {
    const t = byWorkspace.get(g.workspace) ?? { bytes: 0, files: 0 };
    t.bytes += Number(g.bytes);
    t.files += 1;
    byWorkspace.set(g.workspace, t);
  }
  // In a fixed order, so two refunds spanning the same workspaces cannot deadlock.
  for (const ws of [...byWorkspace.keys()].sort()) {
    const t = byWorkspace.get(ws)!;
    await tx
      .updateTable('storage_usage')
      .set((eb) => ({ bytes: eb('bytes', '-', t.bytes), files: eb('files', '-', t.files) }))
      .where('workspace', '=', ws)
      .execute();
  }
}

async function ensureUsageRow(db: Q, workspace: string) {
  await db
    .insertInto('storage_usage')
    .values({ workspace, bytes: 0, files: 0 })
    .onConflict((oc) => oc.column('workspace').doNothing())
    .execute();
}
