import type { Kysely } from 'kysely';

/**
 * The webhook outbox: one row per job that reached a terminal state with a webhook_url,
 * inserted in the same transaction as that state (complete.ts, close.ts), so a crash can
 * never lose the event nor send one for a transition that did not commit. A deliverer
 * leases a row (lease_owner/lease_expires_at, like a chunk), POSTs, and marks it delivered
 * on a 2xx; otherwise it schedules the next attempt (exponential backoff) until
 * give_up_at. A deliverer that dies mid-POST loses its lease and the row is sent again:
 * at least once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('workspace', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    /** The terminal status the event announces. */
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('give_up_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('delivered_at', 'bigint')
    .addColumn('failed_at', 'bigint')
    .addColumn('last_error', 'text')
    .execute();
  // One event per job and status: a transition re-run after a crash cannot queue it twice.
  await db.schema.createIndex('webhook_outbox_job_status').on('webhook_outbox').columns(['job_id', 'status']).unique().execute();
  // Deliverers look for open rows that are due; finished rows leave the probe's range.
  await db.schema.createIndex('webhook_outbox_due').on('webhook_outbox').columns(['delivered_at', 'failed_at', 'next_attempt_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webhook_outbox').ifExists().execute();
}
