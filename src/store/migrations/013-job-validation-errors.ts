import type { Kysely } from 'kysely';

/**
 * Why a job was refused before it ran: OpenAI validates a batch's input file and ends the
 * batch `failed` with line-numbered `errors.data` ({code, message, param, line}). Such a
 * job is stored FAILED with no work items, and its errors here, in the order found.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('job_validation_errors')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    /** 1-based line of the input file; null for an error of the whole file. */
    .addColumn('line', 'integer')
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('param', 'text')
    .addPrimaryKeyConstraint('job_validation_errors_pk', ['job_id', 'seq'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('job_validation_errors').ifExists().execute();
}
