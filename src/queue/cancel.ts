import { TRANSITIONS } from './states.js';
import type { Q } from './types.js';

/** QUEUED/RUNNING → CANCELLATION_REQUESTED; the runner finishes the move to CANCELLED. */
export async function requestCancel(db: Q, workspace: string, id: string, now: number): Promise<void> {
  const t = TRANSITIONS.requestCancel;
  await db
    .updateTable('batch_jobs')
    .set({ status: t.to, cancel_requested_at: now })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('status', 'in', t.from)
    .execute();
}
