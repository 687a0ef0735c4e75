import { sql, type Kysely } from 'kysely';
import type { Database, JobChunkTable } from '../../store/schema.js';
import type { StoreKind } from '../../store/database.js';

export type ClaimedChunk = Pick<JobChunkTable, 'job_id' | 'chunk_no' | 'blob_key' | 'byte_start' | 'byte_end' | 'first_line' | 'line_count'> & {
  /** The fencing token: every later write for this chunk must present it. */
  token: number;
};

/** A chunk is claimable when pending, or leased by a worker whose lease has run out (a crash or a stall). */
const claimable = (now: number) => sql<boolean>`(c.state = 'pending' or (c.state = 'leased' and c.lease_expires_at < ${now}))`;

/**
 * Picks the workspace with the fewest live leases (fair share across workspaces,
 * counted in the store so it holds across workers), then its oldest running job's
 * next claimable chunk, and leases it with a new fencing token. Chunks of
 * `excludeJobs` are passed over (a worker already sending lines of those jobs).
 */
export async function claimChunk(db: Kysely<Database>, kind: StoreKind, owner: string, now: number, leaseMs: number, excludeJobs: string[] = []): Promise<ClaimedChunk | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let sharesQuery = db
      .selectFrom('job_chunks as c')
      .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
      .select([
        'j.workspace',
        sql<number>`sum(case when c.state = 'leased' and c.lease_expires_at >= ${now} then 1 else 0 end)`.as('active'),
        sql<number>`sum(case when ${claimable(now)} then 1 else 0 end)`.as('open'),
      ])
      .where('j.status', '=', 'RUNNING')
      .where('j.deadline_at', '>', now)
      .where('c.state', '!=', 'done')
      .groupBy('j.workspace');
    // Excluded jobs' chunks must not count as open, or a workspace with nothing else would be picked and yield nothing.
    if (excludeJobs.length) sharesQuery = sharesQuery.select(sql<number>`sum(case when ${claimable(now)} and c.job_id not in (${sql.join(excludeJobs)}) then 1 else 0 end)`.as('open_here'));
    const shares = (await sharesQuery.execute()) as { workspace: string; active: number; open: number; open_here?: number }[];
    const candidates = shares.filter((s) => Number(s.open_here ?? s.open) > 0).sort((a, b) => Number(a.active) - Number(b.active) || a.workspace.localeCompare(b.workspace));
    if (candidates.length === 0) return null;
    const workspace = candidates[0]!.workspace;
    const claimed = await db.transaction().execute(async (tx) => {
      let pick = tx
        .selectFrom('job_chunks as c')
        .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
        .select(['c.job_id', 'c.chunk_no'])
        .where('j.workspace', '=', workspace)
        .where('j.status', '=', 'RUNNING')
        .where('j.deadline_at', '>', now)
        .where(claimable(now))
        .$if(excludeJobs.length > 0, (q) => q.where('c.job_id', 'not in', excludeJobs))
        .orderBy('j.created_at')
        .orderBy('c.chunk_no')
        .limit(1);
      // PostgreSQL: workers skip chunks another worker is claiming instead of queueing on their locks.
      if (kind === 'postgres') pick = pick.forUpdate('c').skipLocked();
      const next = await pick.executeTakeFirst();
      if (!next) return undefined;
      return tx
        .updateTable('job_chunks as c')
        .set({
          state: 'leased',
          lease_owner: owner,
          lease_token: sql`lease_token + 1`,
          lease_expires_at: now + leaseMs,
          attempts: sql`attempts + 1`,
        })
        .where('c.job_id', '=', next.job_id)
        .where('c.chunk_no', '=', next.chunk_no)
        .where(claimable(now))
        .returning(['job_id', 'chunk_no', 'blob_key', 'byte_start', 'byte_end', 'first_line', 'line_count', 'lease_token'])
        .executeTakeFirst();
    });
    // Another worker may have won the race for this chunk; look again.
    if (claimed) return { ...claimed, token: Number(claimed.lease_token) };
  }
  return null;
}
