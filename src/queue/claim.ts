import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { QueueDialect } from './dialect.js';
import { ChunkState, JobStatus } from './states.js';
import type { ClaimedChunk } from './types.js';

/**
 * Picks the workspace with the fewest live leases (fair share across workspaces,
 * counted in the store so it holds across workers), then, within it, the running job
 * of highest priority and, at equal priority, earliest deadline (then oldest), and
 * leases that job's next claimable chunk — pending, or leased by a worker whose lease
 * has run out (a crash or a stall) — with a new fencing token. Paused jobs are passed
 * over. Chunks of `excludeJobs` are passed over too (a worker already sending lines of
 * those jobs), but never in favour of a job of lower priority for the same model: a
 * worker sending a high-priority job's lines takes nothing of its workspace's
 * lower-priority jobs for that model, which would only compete for the same engine
 * slots. Priority is strict per (workspace, model): a lower-priority job for another
 * model runs on another engine, where it takes nothing from the higher one.
 *
 * Every step is a small query: the running jobs that have a chunk to take, the live
 * leases per workspace, then an index probe for the chosen job's first claimable chunk.
 * Nothing scans a big job's chunks (a 10M-line job has 20,000), so a claim costs about
 * the same at any size.
 */
export async function claimChunk(
  db: Kysely<Database>,
  dialect: QueueDialect,
  owner: string,
  now: number,
  leaseMs: number,
  excludeJobs: string[] = [],
): Promise<ClaimedChunk | null> {
  const candidates = await db
    .selectFrom('batch_jobs as j')
    .select(['j.id', 'j.workspace', 'j.model', 'j.priority'])
    .where('j.status', '=', JobStatus.RUNNING)
    .where('j.deadline_at', '>', now)
    // Paused: claims nothing new until resumed (pause.ts).
    .where('j.paused_at', 'is', null)
    // Only jobs with a chunk to take (two index probes each).
    .where(({ or, exists, selectFrom }) =>
      or([
        exists(selectFrom('job_chunks as c').select('c.chunk_no').whereRef('c.job_id', '=', 'j.id').where('c.state', '=', ChunkState.PENDING)),
        exists(
          selectFrom('job_chunks as c')
            .select('c.chunk_no')
            .whereRef('c.job_id', '=', 'j.id')
            .where('c.state', '=', ChunkState.LEASED)
            .where('c.lease_expires_at', '<', now),
        ),
      ]),
    )
    .orderBy('j.priority', 'desc')
    .orderBy('j.deadline_at')
    .orderBy('j.created_at')
    .orderBy('j.id')
    .execute();
  // Each (workspace, model)'s top priority among its claimable jobs, excluded ones included
  // (the candidates come highest priority first).
  const group = (j: { workspace: string; model: string }) => JSON.stringify([j.workspace, j.model]);
  const top = new Map<string, number>();
  for (const j of candidates) if (!top.has(group(j))) top.set(group(j), Number(j.priority));
  const jobs = candidates.filter((j) => Number(j.priority) === top.get(group(j)) && !excludeJobs.includes(j.id));
  if (jobs.length === 0) return null;
  const live = await db
    .selectFrom('job_chunks as c')
    .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
    .select(['j.workspace', (eb) => eb.fn.countAll<number>().as('n')])
    .where('c.state', '=', ChunkState.LEASED)
    .where('c.lease_expires_at', '>=', now)
    .groupBy('j.workspace')
    .execute();
  const active = new Map(live.map((r) => [r.workspace, Number(r.n)]));
  const workspaces = [...new Set(jobs.map((j) => j.workspace))].sort((a, b) => (active.get(a) ?? 0) - (active.get(b) ?? 0) || a.localeCompare(b));
  for (const workspace of workspaces) {
    for (const job of jobs.filter((j) => j.workspace === workspace)) {
      const claimed = await claimInJob(db, dialect, job.id, owner, now, leaseMs);
      if (claimed) return claimed;
    }
  }
  return null;
}

/** The job's lowest-numbered claimable chunk, leased to `owner`; null if it has none free. */
async function claimInJob(
  db: Kysely<Database>,
  dialect: QueueDialect,
  jobId: string,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<ClaimedChunk | null> {
  for (const expired of [false, true]) {
    const claimed = await db.transaction().execute(async (tx) => {
      const pick = tx
        .selectFrom('job_chunks')
        .select('chunk_no')
        .where('job_id', '=', jobId)
        .where('state', '=', expired ? ChunkState.LEASED : ChunkState.PENDING)
        .$if(expired, (q) => q.where('lease_expires_at', '<', now))
        .orderBy('chunk_no')
        .limit(1);
      const next = await dialect.skipLocked(pick).executeTakeFirst();
      if (!next) return undefined;
      return (
        tx
          .updateTable('job_chunks')
          .set({
            state: ChunkState.LEASED,
            lease_owner: owner,
            lease_token: sql`lease_token + 1`,
            lease_expires_at: now + leaseMs,
            attempts: sql`attempts + 1`,
          })
          .where('job_id', '=', jobId)
          .where('chunk_no', '=', next.chunk_no)
          // Still claimable: on SQLite nothing locked the row between the two statements' snapshots.
          .where((eb) => eb.or([eb('state', '=', ChunkState.PENDING), eb.and([eb('state', '=', ChunkState.LEASED), eb('lease_expires_at', '<', now)])]))
          .returning(['job_id', 'chunk_no', 'blob_key', 'byte_start', 'byte_end', 'first_line', 'line_count', 'lease_token'])
          .executeTakeFirst()
      );
    });
    if (claimed) return { ...claimed, token: Number(claimed.lease_token) };
  }
  return null;
}
