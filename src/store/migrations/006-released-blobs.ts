import type { Kysely } from 'kysely';

/**
 * Blob keys whose bytes are to be deleted. A file gives up its bytes in a transaction
 * that clears its blob key and adds the key here; the bytes are deleted afterwards and
 * the key removed. A crash in between leaves the key here for the next sweep, so bytes
 * are neither lost while still referenced nor leaked once released.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('released_blobs')
    .addColumn('blob_key', 'text', (c) => c.primaryKey())
    .addColumn('released_at', 'bigint', (c) => c.notNull())
    .execute();
  // The sweep looks for deleted jobs (rare) without scanning every job.
  await db.schema.createIndex('batch_jobs_deleted').on('batch_jobs').column('deleted_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('batch_jobs_deleted').ifExists().execute();
  await db.schema.dropTable('released_blobs').ifExists().execute();
}
