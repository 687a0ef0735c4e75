import type { Kysely } from 'kysely';

/**
 * Progress counted on each chunk instead of on the job row: a worker's result write then
 * touches only rows it already owns, so workers never queue on one hot job row. A job's
 * live counters are the sums over its chunks; they are folded into the job row when it ends.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const col of ['succeeded', 'failed', 'prompt_tokens', 'completion_tokens', 'ok_bytes', 'err_bytes']) {
    await db.schema
      .alterTable('job_chunks')
      .addColumn(col, 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
  }
}

export async function down(): Promise<void> {}
