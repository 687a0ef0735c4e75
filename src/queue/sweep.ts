import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { refundFiles } from '../store/storage-usage.js';
import type { QueueDialect } from './dialect.js';
import { UNFINISHED_STATUSES } from './states.js';

/** Statuses in which a job may still read its input bytes. */
const READING = UNFINISHED_STATUSES;

/** Result rows removed per statement when a deleted job is purged: no transaction grows with the job. */
const PURGE_BATCH = 5_000;

export interface SweepReport {
  purgedJobs: number;
  releasedFiles: number;
}

/**
 * Gives back the storage of what clients deleted (or let expire), once nothing can
 * still read it:
 * - a deleted job's result records, work items and hidden inputs (inline requests,
 *   retry lines);
 * - a deleted or expired input file's bytes and chunk table, once no unfinished job
 *   reads them (a running job keeps its input until it ends).
 * Safe to run in any number of processes at once: every step is idempotent, and a
 * file's row keeps its id with an empty blob key once its bytes are gone.
 */
export async function sweepStorage(db: Kysely<Database>, dialect: QueueDialect, blobs: BlobStore, now: number, limit = 20): Promise<SweepReport> {
  const report: SweepReport = { purgedJobs: 0, releasedFiles: 0 };
  const deletedJobs = await db
    .selectFrom('batch_jobs as j')
    .select('j.id')
    .where('j.deleted_at', 'is not', null)
    .where(({ exists, selectFrom }) => exists(selectFrom('job_chunks as c').select('c.job_id').whereRef('c.job_id', '=', 'j.id')))
    .limit(limit)
    .execute();
  for (const { id } of deletedJobs) {
    await purgeJob(db, id, now);
    report.purgedJobs++;
  }
  const files = await releasable(db, now).select('f.id').limit(limit).execute();
  for (const f of files) if (await releaseFile(db, dialect, blobs, f.id, now)) report.releasedFiles++;
  // Bytes whose deletion a crash interrupted.
  for (const r of await db.selectFrom('released_blobs').select('blob_key').limit(limit).execute()) await deleteReleased(db, blobs, r.blob_key);
  return report;
}

/** Input files whose bytes can go: deleted or expired, and read by no unfinished job. */
function releasable(db: Kysely<Database> | Transaction<Database>, now: number) {
  return db
    .selectFrom('files as f')
    .where('f.job_id', 'is', null)
    .where('f.blob_key', '!=', '')
    .where((eb) => eb.or([eb('f.deleted_at', 'is not', null), eb.and([eb('f.expires_at', 'is not', null), eb('f.expires_at', '<=', now)])]))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('job_chunks as c')
            .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
            .select('c.job_id')
            .whereRef('c.blob_key', '=', 'f.blob_key')
            .where('j.status', 'in', READING),
        ),
      ),
    );
}

/**
 * Gives back one input file's bytes if it is releasable now; false if not (yet).
 * The file row is locked first (PostgreSQL; SQLite writers are serialised) and the
 * check made after, so a job being created from the file either committed its chunks
 * (the file is in use) or will find the file gone. The bytes are deleted after the
 * commit, through the released_blobs tombstone.
 */
export async function releaseFile(db: Kysely<Database>, dialect: QueueDialect, blobs: BlobStore, fileId: string, now: number): Promise<boolean> {
  const released = await db.transaction().execute(async (tx) => {
    const row = tx.selectFrom('files').select('blob_key').where('id', '=', fileId);
    if (!(await dialect.forUpdate(row).executeTakeFirst())) return null;
    const f = await releasable(tx, now).select('f.blob_key').where('f.id', '=', fileId).executeTakeFirst();
    if (!f) return null;
    await tx
      .insertInto('released_blobs')
      .values({ blob_key: f.blob_key, released_at: now })
      .onConflict((oc) => oc.column('blob_key').doNothing())
      .execute();
    await tx.deleteFrom('file_chunks').where('file_id', '=', fileId).execute();
    await tx.updateTable('files').set({ blob_key: '' }).where('id', '=', fileId).execute();
    await refundFiles(tx, [fileId]);
    return f.blob_key;
  });
  if (released === null) return false;
  await deleteReleased(db, blobs, released);
  return true;
}

async function deleteReleased(db: Kysely<Database>, blobs: BlobStore, key: string) {
  await blobs.delete(key);
  await db.deleteFrom('released_blobs').where('blob_key', '=', key).execute();
}

/**
 * A deleted job's records go in batches; its chunks go last, as they mark the purge as
 * unfinished. Its result files stop counting against the quota when the purge starts
 * (its hidden inputs when the sweep releases their bytes).
 */
async function purgeJob(db: Kysely<Database>, jobId: string, now: number) {
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('files')
      .set({ deleted_at: now })
      .where('deleted_at', 'is', null)
      .where((eb) =>
        eb.or([
          eb('job_id', '=', jobId),
          eb.and([eb('hidden', '=', 1), eb('blob_key', 'in', eb.selectFrom('job_chunks').select('blob_key').where('job_id', '=', jobId))]),
        ]),
      )
      .execute();
    const results = await tx.selectFrom('files').select('id').where('job_id', '=', jobId).execute();
    await refundFiles(
      tx,
      results.map((r) => r.id),
    );
  });
  for (;;) {
    const res = await db
      .deleteFrom('job_results')
      .where('job_id', '=', jobId)
      .where('line_no', 'in', (eb) => eb.selectFrom('job_results').select('line_no').where('job_id', '=', jobId).limit(PURGE_BATCH))
      .executeTakeFirst();
    if (Number(res.numDeletedRows) < PURGE_BATCH) break;
  }
  await db.deleteFrom('job_metadata').where('job_id', '=', jobId).execute();
  await db.deleteFrom('job_chunks').where('job_id', '=', jobId).execute();
}
