import type { ApiDialect } from '../dialects/types.js';
import type { JobRow, Q } from './types.js';

// NOTE (OpenAI helper): this file was overwritten by mistake at 20:35 by the OpenAI helper and
// rebuilt from its uses in src/dialects/anthropic/ (now only getDialectJob); the Anthropic helper owns it.

/**
 * A dialect's own view of the jobs (Anthropic's /v1/messages/batches): only the jobs created
 * through that API, within a workspace, never deleted ones. The Mistral API reads every job.
 */
export async function getDialectJob(db: Q, workspace: string, dialect: ApiDialect, id: string): Promise<JobRow | undefined> {
  return db
    .selectFrom('batch_jobs')
    .selectAll()
    .where('workspace', '=', workspace)
    .where('dialect', '=', dialect)
    .where('deleted_at', 'is', null)
    .where('id', '=', id)
    .executeTakeFirst();
}
