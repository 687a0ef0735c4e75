import type { Kysely, Transaction, UpdateQueryBuilder } from 'kysely';
import type { Database } from '../../store/schema.js';

export interface Lease {
  job_id: string;
  chunk_no: number;
  token: number;
}

/** The fencing condition every write of a lease holder carries: same chunk, same token, still leased. */
function whileHeld<O>(q: UpdateQueryBuilder<Database, 'job_chunks', 'job_chunks', O>, lease: Lease) {
  return q.where('job_id', '=', lease.job_id).where('chunk_no', '=', lease.chunk_no).where('lease_token', '=', lease.token).where('state', '=', 'leased');
}

/**
 * Extends a lease only while the caller still holds it (same fencing token, still
 * leased). Returns false once the lease is lost: the caller must stop and write nothing.
 * Inside a transaction this also locks the chunk row, serialising result writes with
 * a closer that re-fences the chunk.
 */
export async function extendLease(db: Kysely<Database> | Transaction<Database>, lease: Lease, expiresAt: number): Promise<boolean> {
  const res = await whileHeld(db.updateTable('job_chunks').set({ lease_expires_at: expiresAt }), lease).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Marks a chunk done (keeping who finished it); refused (false) if the lease was lost meanwhile. */
export async function finishChunk(db: Kysely<Database>, lease: Lease): Promise<boolean> {
  const res = await whileHeld(db.updateTable('job_chunks').set({ state: 'done', lease_expires_at: null }), lease).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Hands a chunk back (a worker stopping, a failed store write, a cancelled job) so it need not wait for lease expiry. */
export async function releaseChunk(db: Kysely<Database>, lease: Lease): Promise<void> {
  await whileHeld(db.updateTable('job_chunks').set({ state: 'pending', lease_owner: null, lease_expires_at: null }), lease).execute();
}
