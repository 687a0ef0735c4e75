import { TERMINAL_STATUSES } from './states.js';
import type { Q } from './types.js';

/** Hides a finished job from its workspace; the storage sweep purges its records later. */
export async function markJobDeleted(db: Q, workspace: string, id: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('batch_jobs')
    .set({ deleted_at: now })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .where('status', 'in', TERMINAL_STATUSES)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
