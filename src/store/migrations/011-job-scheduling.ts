import type { Kysely } from 'kysely';

/**
 * Scheduling and control of a job (issue 16):
 * - `priority`: 2 high, 1 normal (every existing job), 0 low. Within a workspace claims
 *   take higher priority first, then the earliest deadline (`deadline_at`, already stored).
 * - `paused_at`: set while a client has paused the job (no new claims; not a status, so
 *   every API still sees one of its own states).
 * - `webhook_url`: where the job's terminal state is POSTed (webhooks/), resolved at create.
 * The index serves the claim's running-jobs query in its new order.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('batch_jobs')
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('batch_jobs').addColumn('paused_at', 'bigint').execute();
  await db.schema.alterTable('batch_jobs').addColumn('webhook_url', 'text').execute();
  await db.schema.createIndex('batch_jobs_claim_order').on('batch_jobs').columns(['status', 'priority', 'deadline_at', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('batch_jobs_claim_order').ifExists().execute();
  await db.schema.alterTable('batch_jobs').dropColumn('webhook_url').execute();
  await db.schema.alterTable('batch_jobs').dropColumn('paused_at').execute();
  await db.schema.alterTable('batch_jobs').dropColumn('priority').execute();
}
