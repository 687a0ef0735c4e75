import type { Kysely } from 'kysely';

// Portable types only (text, integer, bigint), so the same migration runs on SQLite and PostgreSQL.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('hash_prefix', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('api_keys_prefix').on('api_keys').column('hash_prefix').execute();

  await db.schema
    .createTable('files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace', 'text', (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('sample_type', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('num_lines', 'bigint')
    .addColumn('mimetype', 'text')
    .addColumn('signature', 'text')
    .addColumn('expires_at', 'bigint')
    .addColumn('visibility', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('blob_key', 'text', (c) => c.notNull())
    .addColumn('hidden', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted_at', 'bigint')
    .execute();
  await db.schema.createIndex('files_ws_created').on('files').columns(['workspace', 'created_at']).execute();

  await db.schema
    .createTable('file_chunks')
    .addColumn('file_id', 'text', (c) => c.notNull())
    .addColumn('chunk_no', 'integer', (c) => c.notNull())
    .addColumn('byte_start', 'bigint', (c) => c.notNull())
    .addColumn('byte_end', 'bigint', (c) => c.notNull())
    .addColumn('first_line', 'bigint', (c) => c.notNull())
    .addColumn('line_count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('file_chunks_pk', ['file_id', 'chunk_no'])
    .execute();

  await db.schema
    .createTable('batch_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text')
    .addColumn('metadata', 'text')
    .addColumn('timeout_hours', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('input_files', 'text', (c) => c.notNull())
    .addColumn('inline', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('output_file', 'text')
    .addColumn('error_file', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('completed_at', 'bigint')
    .addColumn('deadline_at', 'bigint', (c) => c.notNull())
    .addColumn('cancel_requested_at', 'bigint')
    .addColumn('total_requests', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('completed_requests', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('succeeded_requests', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('failed_requests', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('prompt_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('total_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted_at', 'bigint')
    .execute();
  await db.schema.createIndex('batch_jobs_ws_created').on('batch_jobs').columns(['workspace', 'created_at']).execute();
  await db.schema.createIndex('batch_jobs_status').on('batch_jobs').columns(['status', 'created_at']).execute();

  await db.schema
    .createTable('job_metadata')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_metadata_pk', ['job_id', 'key'])
    .execute();
  await db.schema.createIndex('job_metadata_kv').on('job_metadata').columns(['key', 'value']).execute();

  await db.schema
    .createTable('job_chunks')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('chunk_no', 'integer', (c) => c.notNull())
    .addColumn('blob_key', 'text', (c) => c.notNull())
    .addColumn('byte_start', 'bigint', (c) => c.notNull())
    .addColumn('byte_end', 'bigint', (c) => c.notNull())
    .addColumn('first_line', 'bigint', (c) => c.notNull())
    .addColumn('line_count', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_token', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('job_chunks_pk', ['job_id', 'chunk_no'])
    .execute();
  // Server-wide secrets (the signed-URL key) live in the store so every node of a cluster shares them.
  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();

  await db.schema.createIndex('job_chunks_state').on('job_chunks').columns(['state', 'lease_expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['settings', 'job_chunks', 'job_metadata', 'batch_jobs', 'file_chunks', 'files', 'api_keys']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
