import { sql, type Kysely } from 'kysely';

/**
 * Per-workspace storage quotas. `storage_charges` holds one row per file whose bytes
 * count against its workspace (an upload or hidden input until its bytes are released,
 * a finished job's result file until the job is purged); `storage_usage` holds each
 * workspace's sums of those rows, so a quota check is one conditional update, never a
 * scan. Both change in the same transaction; a refund deletes the charge row, so it
 * happens exactly once however many processes race to give the same file back.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('storage_usage')
    .addColumn('workspace', 'text', (c) => c.primaryKey())
    .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('files', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('storage_charges')
    .addColumn('file_id', 'text', (c) => c.primaryKey())
    .addColumn('workspace', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .execute();
  // What an existing store already holds: blob files not yet released, finished jobs' result files not yet purged.
  await sql`
    insert into storage_charges (file_id, workspace, bytes)
    select id, workspace, bytes from files
    where (job_id is null and blob_key <> '')
       or (job_id is not null and deleted_at is null and num_lines is not null)`.execute(db);
  await sql`
    insert into storage_usage (workspace, bytes, files)
    select workspace, sum(bytes), count(*) from storage_charges group by workspace`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('storage_charges').ifExists().execute();
  await db.schema.dropTable('storage_usage').ifExists().execute();
}
