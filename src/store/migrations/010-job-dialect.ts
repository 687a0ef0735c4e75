import type { Kysely } from 'kysely';

/**
 * Which API a job was created through (`mistral`, `openai`, `anthropic`): one job in one
 * store, whichever dialect asked for it. The runner reads it to translate each line's
 * request for the engines and to render its result line in that API's shape. Existing
 * jobs were all created through the Mistral API.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('batch_jobs')
    .addColumn('dialect', 'text', (c) => c.notNull().defaultTo('mistral'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('batch_jobs').dropColumn('dialect').execute();
}
