import { UNFINISHED_PAUSABLE } from './states.js';
import type { Q } from './types.js';

/**
 * Pauses a QUEUED or RUNNING job: claims pass it over (claim.ts) and workers stop
 * sending its lines (in-flight ones finish). Not a status: every API keeps showing one
 * of its own states, and the deadline keeps running (close.ts expires a paused job like
 * any other). True if this call paused it; false if it was paused already or has ended.
 */
export async function pauseJob(db: Q, workspace: string, id: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('batch_jobs')
    .set({ paused_at: now })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('status', 'in', UNFINISHED_PAUSABLE)
    .where('paused_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
