import { sql } from 'kysely';
import { ChunkState } from './states.js';
import type { ClaimedChunk, Q } from './types.js';

/**
 * Takes every unfinished chunk of a job away from whoever holds it, by bumping its
 * fencing token: a worker still running one of them can no longer write a record.
 * Used when a job is cancelled or times out, before its open lines are closed out.
 */
export async function fenceOpenChunks(db: Q, jobId: string, owner: string, now: number, leaseMs: number): Promise<ClaimedChunk[]> {
  const rows = await db
    .updateTable('job_chunks')
    .set({ state: ChunkState.LEASED, lease_owner: owner, lease_token: sql`lease_token + 1`, lease_expires_at: now + leaseMs })
    .where('job_id', '=', jobId)
    .where('state', '!=', ChunkState.DONE)
    .returning(['job_id', 'chunk_no', 'blob_key', 'byte_start', 'byte_end', 'first_line', 'line_count', 'lease_token'])
    .execute();
  return rows.map((r) => ({ ...r, token: Number(r.lease_token) })).sort((a, b) => a.chunk_no - b.chunk_no);
}
