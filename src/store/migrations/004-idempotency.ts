import type { Kysely } from 'kysely';

/** A client's Idempotency-Key on job creation: a retried create returns the first job instead of a second one. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('batch_jobs').addColumn('idempotency_key', 'text').execute();
  await db.schema.createIndex('batch_jobs_idempotency').on('batch_jobs').columns(['workspace', 'idempotency_key']).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('batch_jobs_idempotency').execute();
}
