import type { Kysely } from 'kysely';

/**
 * The endpoint a job was created for in its dialect's API, when the engines run it under
 * another: an OpenAI batch for `/v1/responses` runs as a chat job (each line translated to a
 * chat request), so `endpoint` says `/v1/chat/completions` and this says `/v1/responses`.
 * Null for every other job, whose dialect endpoint follows from `endpoint` alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('batch_jobs').addColumn('api_endpoint', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('batch_jobs').dropColumn('api_endpoint').execute();
}
