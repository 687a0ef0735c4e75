import type { UpdateQueryBuilder } from 'kysely';
import type { Database } from '../store/schema.js';
import { ChunkState } from './states.js';
import type { Lease, Q } from './types.js';

/** The fencing condition every write of a lease holder carries: same chunk, same token, still leased. */
function whileHeld<O>(q: UpdateQueryBuilder<Database, 'job_chunks', 'job_chunks', O>, lease: Lease) {
  return q
    .where('job_id', '=', lease.job_id)
    .where('chunk_no', '=', lease.chunk_no)
    .where('lease_token', '=', lease.token)
    .where('state', '=', ChunkState.LEASED);
}

/**
 * Extends a lease only while the caller still holds it (same fencing token, still
 * leased). Returns false once the lease is lost: the caller must stop and write nothing.
 * Inside a transaction this also locks the chunk row, serialising result writes with
 * a closer that re-fences the chunk.
 */
export async function extendLease(db: Q, lease: Lease, expiresAt: number): Promise<boolean> {
  const res = await whileHeld(db.updateTable('job_chunks').set({ lease_expires_at: expiresAt }), lease).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Marks a chunk done (keeping who finished it); refused (false) if the lease was lost meanwhile. */
export async function finishChunk(db: Q, lease: Lease): Promise<boolean> {
  const res = await whileHeld(db.updateTable('job_chunks').set({ state: ChunkState.DONE, lease_expires_at: null }), lease).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Hands a chunk back (a worker stopping, a failed store write, a cancelled job) so it need not wait for lease expiry. */
export async function releaseChunk(db: Q, lease: Lease): Promise<void> {
  await whileHeld(db.updateTable('job_chunks').set({ state: ChunkState.PENDING, lease_owner: null, lease_expires_at: null }), lease).execute();
}

/** Makes every leased chunk claimable now, not at its lease's expiry. */
export async function expireAllLeases(db: Q): Promise<void> {
  await db.updateTable('job_chunks').set({ lease_expires_at: 0 }).where('state', '=', ChunkState.LEASED).execute();
}
