import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { STORES, storeSuite } from '../helpers/stores.js';
import { okOutcome, seedJob } from '../helpers/fixtures.js';
import { expiredOutcome } from '../../src/results/render.js';
import { canTransition, JobStatus, TRANSITIONS } from '../../src/queue/states.js';
import type { JobRow } from '../../src/queue/index.js';

const HOUR = 3600_000;

/**
 * Every status change the queue's code makes is recorded by a trigger in the store
 * itself (so no code path can slip past the test by not reporting), the job lifecycle
 * is driven through every path, and each recorded change must be an edge of TRANSITIONS.
 */
for (const name of STORES) {
  describe(`job transitions on ${name}`, async () => {
    const s = await storeSuite(name);
    const { opts } = s;

    test('every status change the queue makes is an edge of the transitions table, and every edge is exercised', opts, async () => {
      const { db, queue } = s;
      await sql`create table status_log (job_id text not null, from_status text not null, to_status text not null)`.execute(db.kysely);
      if (name === 'sqlite') {
        await sql`create trigger log_status after update of status on batch_jobs when old.status is not new.status
          begin insert into status_log values (new.id, old.status, new.status); end`.execute(db.kysely);
      } else {
        await sql
          .raw(
            `create function log_status() returns trigger language plpgsql as $$
          begin
            if old.status is distinct from new.status then insert into status_log values (new.id, old.status, new.status); end if;
            return new;
          end $$`,
          )
          .execute(db.kysely);
        await sql`create trigger log_status after update on batch_jobs for each row execute function log_status()`.execute(db.kysely);
      }

      const now = Date.now();
      const seed = (ws: string, n: number, timeoutHours = 24) => seedJob(db, s.blobs, ws, n, { now, chunkLines: n, timeoutHours });
      /** Runs every chunk of `job` to the end with `ok` or failed records, as a worker does. */
      const runAll = async (job: JobRow, ok: boolean) => {
        for (;;) {
          const c = await queue.claim('w', now, []);
          if (!c) return;
          const lease = { job_id: c.job_id, chunk_no: c.chunk_no, token: c.token };
          const lines = Array.from({ length: c.line_count }, (_, i) => Number(c.first_line) + i);
          assert.ok(
            await queue.record(
              lease,
              lines.map((l) => (ok || c.job_id !== job.id ? okOutcome(l) : expiredOutcome(l, null))),
              now,
            ),
          );
          assert.ok(await queue.finish(lease));
        }
      };
      const closeDue = async (at: number) => {
        for (const j of await queue.jobsToClose(at)) await queue.close(j, 'closer', at);
      };
      const status = async (job: JobRow) =>
        (await db.kysely.selectFrom('batch_jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow()).status;

      // QUEUED → RUNNING → SUCCESS
      const success = await seed('ws-ok', 3);
      await queue.admit(1_000_000, now);
      await runAll(success, true);
      await queue.complete(now);
      assert.equal(await status(success), JobStatus.SUCCESS);
      // QUEUED → RUNNING → FAILED
      const failed = await seed('ws-fail', 3);
      await queue.admit(1_000_000, now);
      await runAll(failed, false);
      await queue.complete(now);
      assert.equal(await status(failed), JobStatus.FAILED);
      // QUEUED → CANCELLATION_REQUESTED → CANCELLED
      const cancelQueued = await seed('ws-cq', 3);
      await queue.requestCancel('ws-cq', cancelQueued.id, now);
      // RUNNING → CANCELLATION_REQUESTED → CANCELLED
      const cancelRunning = await seed('ws-cr', 3);
      await queue.admit(1_000_000, now);
      assert.equal(await status(cancelRunning), JobStatus.RUNNING);
      await queue.requestCancel('ws-cr', cancelRunning.id, now);
      await closeDue(now);
      assert.equal(await status(cancelQueued), JobStatus.CANCELLED);
      assert.equal(await status(cancelRunning), JobStatus.CANCELLED);
      // RUNNING → TIMEOUT_EXCEEDED, and QUEUED → TIMEOUT_EXCEEDED (a job held back by the cap).
      const expireRunning = await seed('ws-exp', 3, 1);
      await queue.admit(1_000_000, now);
      const expireQueued = await seed('ws-exp', 3, 1);
      await queue.admit(3, now);
      assert.equal(await status(expireQueued), JobStatus.QUEUED);
      await closeDue(now + HOUR + 1);
      assert.equal(await status(expireRunning), JobStatus.TIMEOUT_EXCEEDED);
      assert.equal(await status(expireQueued), JobStatus.TIMEOUT_EXCEEDED);
      // A finished job does not move again.
      await queue.requestCancel('ws-ok', success.id, now);
      assert.equal(await status(success), JobStatus.SUCCESS);

      const log = await sql<{ from_status: string; to_status: string }>`select from_status, to_status from status_log`.execute(db.kysely);
      const seen = new Set(log.rows.map((r) => `${r.from_status} → ${r.to_status}`));
      for (const edge of seen) {
        const [from, to] = edge.split(' → ') as [string, string];
        assert.ok(canTransition(from, to), `the code moved a job ${edge}, which TRANSITIONS does not allow`);
      }
      const edges = Object.values(TRANSITIONS).flatMap((t) => t.from.map((f) => `${f} → ${t.to}`));
      assert.deepEqual([...seen].sort(), [...new Set(edges)].sort(), 'every edge of the table is exercised, and no other');
    });
  });
}
