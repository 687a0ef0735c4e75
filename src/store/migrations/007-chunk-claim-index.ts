import type { Kysely } from 'kysely';

/**
 * Claims look for a job's first pending (or expired) chunk, and completion for any
 * chunk not done: with this index both are index probes, not a scan of every chunk of
 * a job of millions of lines.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('job_chunks_job_state').on('job_chunks').columns(['job_id', 'state', 'chunk_no']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('job_chunks_job_state').ifExists().execute();
}
