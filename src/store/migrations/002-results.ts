import type { Kysely } from 'kysely';

/**
 * One terminal record per input line, keyed by (job, line): a line executed twice after
 * a crash is still recorded once. `line` is the rendered output/error-file line, so
 * result files are streamed straight from here, in input order, even while the job runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('job_results')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('line_no', 'bigint', (c) => c.notNull())
    .addColumn('ok', 'integer', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addColumn('error_message', 'text')
    .addColumn('prompt_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('job_results_pk', ['job_id', 'line_no'])
    .execute();
  await db.schema.createIndex('job_results_ok').on('job_results').columns(['job_id', 'ok', 'line_no']).execute();

  // Result files are rows whose bytes are the job's result lines, not a blob.
  await db.schema.alterTable('files').addColumn('job_id', 'text').execute();
  await db.schema.alterTable('files').addColumn('result_kind', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('job_results').ifExists().execute();
}
