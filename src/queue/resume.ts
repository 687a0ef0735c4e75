import { UNFINISHED_PAUSABLE } from './states.js';
import type { Q } from './types.js';

/** Resumes a paused job that has not ended; its chunks are claimable again. True if this call resumed it. */
export async function resumeJob(db: Q, workspace: string, id: string): Promise<boolean> {
  const res = await db
    .updateTable('batch_jobs')
    .set({ paused_at: null })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('status', 'in', UNFINISHED_PAUSABLE)
    .where('paused_at', 'is not', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
