import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { STORES, storeSuite, type StoreSuite } from '../helpers/stores.js';
import { okOutcome, seedJob } from '../helpers/fixtures.js';
import type { PriorityName } from '../../src/queue/index.js';

/** A QUEUED job of `n` lines (chunks of 10) with a priority, a timeout and a model. */
const job = (s: StoreSuite, workspace: string, n: number, opts: { priority?: PriorityName; timeoutHours?: number; model?: string; now: number }) =>
  seedJob(s.db, s.blobs, workspace, n, opts);

/** Ends the jobs earlier tests left running, so each test's claims see only its own jobs. */
async function endOthers(s: StoreSuite) {
  await s.db.kysely.updateTable('batch_jobs').set({ status: 'CANCELLED' }).where('status', 'in', ['QUEUED', 'RUNNING']).execute();
}

for (const name of STORES) {
  describe(`claim order on ${name}`, async () => {
    const s = await storeSuite(name);
    const { opts } = s;

    test('at equal priority the earliest deadline is claimed first, whatever the creation order', opts, async () => {
      await endOthers(s);
      const now = Date.now();
      const late = await job(s, 'ws-edf', 30, { now, timeoutHours: 48 });
      const early = await job(s, 'ws-edf', 30, { now: now + 1, timeoutHours: 2 });
      const middle = await job(s, 'ws-edf', 30, { now: now + 2, timeoutHours: 24 });
      await s.queue.admit(1_000_000, now + 3);
      const order: string[] = [];
      // One worker: each claim excludes the job it is already sending, as worker.ts does.
      for (let i = 0; i < 3; i++) {
        const c = await s.queue.claim('w1', now + 3, order);
        assert.ok(c);
        order.push(c.job_id);
      }
      assert.deepEqual(order, [early.id, middle.id, late.id]);
    });

    test('higher priority goes first; a worker sending it takes nothing of a lower priority of its workspace', opts, async () => {
      await endOthers(s);
      const now = Date.now();
      const low = await job(s, 'ws-prio', 30, { now, priority: 'low', timeoutHours: 1 });
      const normal = await job(s, 'ws-prio', 30, { now: now + 1 });
      const high = await job(s, 'ws-prio', 30, { now: now + 2, priority: 'high', timeoutHours: 168 });
      await s.queue.admit(1_000_000, now + 3);
      const first = await s.queue.claim('w1', now + 3);
      assert.equal(first?.job_id, high.id, 'high first, though its deadline is the latest');
      // Sending the high job: the normal and low jobs of the same workspace wait.
      assert.equal(await s.queue.claim('w1', now + 3, [high.id]), null);
      // The high job's chunks all taken and done: the normal job is next, then the low one.
      for (let c = await s.queue.claim('w2', now + 3); c?.job_id === high.id; c = await s.queue.claim('w2', now + 3)) {
        const lines = Array.from({ length: c.line_count }, (_, i) => okOutcome(Number(c!.first_line) + i));
        assert.ok(await s.queue.record({ job_id: c.job_id, chunk_no: c.chunk_no, token: c.token }, lines, now + 3));
        assert.ok(await s.queue.finish({ job_id: c.job_id, chunk_no: c.chunk_no, token: c.token }));
        if (c.chunk_no === 2) break;
      }
      const after = await s.queue.claim('w3', now + 3);
      assert.equal(after?.job_id, normal.id);
      assert.notEqual(after?.job_id, low.id);
    });

    test(
      'priority is per model: a worker sending a high-priority job for one model may take a low-priority job of its workspace for another',
      opts,
      async () => {
        await endOthers(s);
        const now = Date.now();
        const lowY = await job(s, 'ws-models', 30, { now, priority: 'low', model: 'model-y' });
        const normalX = await job(s, 'ws-models', 30, { now: now + 1, model: 'model-x' });
        const highX = await job(s, 'ws-models', 30, { now: now + 2, priority: 'high', model: 'model-x' });
        await s.queue.admit(1_000_000, now + 3);
        const first = await s.queue.claim('w1', now + 3);
        assert.equal(first?.job_id, highX.id, 'the highest priority of the workspace first');
        // Sending the high X job: the low Y job runs beside it, on the other model's engine ...
        const beside = await s.queue.claim('w1', now + 3, [highX.id]);
        assert.equal(beside?.job_id, lowY.id);
        // ... while the normal X job, same model as the high one, still waits behind it.
        assert.equal(await s.queue.claim('w1', now + 3, [highX.id, lowY.id]), null);
        // Without exclusions the high X job's two other chunks go first; then, at last, the normal X job.
        const next = [];
        for (const w of ['w2', 'w3', 'w4']) next.push((await s.queue.claim(w, now + 3))?.job_id);
        assert.deepEqual(next, [highX.id, highX.id, normalX.id]);
      },
    );

    test('a paused job is passed over; resumed, it is claimed again; pause and resume are guarded', opts, async () => {
      await endOthers(s);
      const now = Date.now();
      const j = await job(s, 'ws-pause', 20, { now });
      await s.queue.admit(1_000_000, now);
      assert.equal(await s.queue.pause('ws-pause', j.id, now), true);
      assert.equal(await s.queue.pause('ws-pause', j.id, now), false, 'already paused');
      assert.equal(await s.queue.pause('other-ws', j.id, now), false, 'another workspace cannot pause it');
      assert.equal(await s.queue.claim('w1', now), null);
      assert.equal((await s.queue.get('ws-pause', j.id))?.status, 'RUNNING', 'pausing is not a status');
      assert.equal(await s.queue.resume('ws-pause', j.id), true);
      assert.equal(await s.queue.resume('ws-pause', j.id), false, 'not paused any more');
      const c = await s.queue.claim('w1', now);
      assert.equal(c?.job_id, j.id);
      // A paused job still runs out of time: the closer expires it.
      assert.equal(await s.queue.pause('ws-pause', j.id, now), true);
      const closing = await s.queue.jobsToClose(Number(j.deadline_at) + 1);
      assert.ok(closing.some((x) => x.id === j.id));
      await s.queue.close(
        closing.find((x) => x.id === j.id)!,
        'closer',
        Number(j.deadline_at) + 1,
      );
      assert.equal((await s.queue.get('ws-pause', j.id))?.status, 'TIMEOUT_EXCEEDED');
      assert.equal(await s.queue.resume('ws-pause', j.id), false, 'an ended job cannot be resumed');
    });

    test('a terminal transition queues one webhook event in its own transaction, only for jobs with a webhook_url', opts, async () => {
      await endOthers(s);
      const now = Date.now();
      const withHook = await job(s, 'ws-hook', 10, { now });
      const without = await job(s, 'ws-hook', 10, { now });
      await s.db.kysely.updateTable('batch_jobs').set({ webhook_url: 'https://example.com/hook' }).where('id', '=', withHook.id).execute();
      await s.queue.admit(1_000_000, now);
      for (const j of [withHook, without]) {
        const c = await s.queue.claim(
          'w1',
          now,
          [without.id, withHook.id].filter((id) => id !== j.id),
        );
        assert.equal(c?.job_id, j.id);
        const lines = Array.from({ length: c.line_count }, (_, i) => okOutcome(i));
        assert.ok(await s.queue.record({ job_id: c.job_id, chunk_no: c.chunk_no, token: c.token }, lines, now));
        assert.ok(await s.queue.finish({ job_id: c.job_id, chunk_no: c.chunk_no, token: c.token }));
      }
      const done = await s.queue.complete(now + 1);
      assert.ok(done.includes(withHook.id) && done.includes(without.id));
      const events = await s.queue.webhookEvents(withHook.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.status, 'SUCCESS');
      assert.equal(events[0]!.url, 'https://example.com/hook');
      assert.deepEqual(await s.queue.webhookEvents(without.id), []);
      // Leased to one deliverer at a time; a failed attempt is rescheduled, a delivered one is done.
      const [e] = await s.queue.claimWebhooks('d1', now + 2, 1000, 10);
      assert.equal(e?.id, events[0]!.id);
      assert.deepEqual(await s.queue.claimWebhooks('d2', now + 2, 1000, 10), []);
      await s.queue.rescheduleWebhook(e!, 'd1', now + 500, 'the receiver answered 500', now + 2);
      assert.deepEqual(await s.queue.claimWebhooks('d2', now + 100, 1000, 10), [], 'not due yet');
      const [again] = await s.queue.claimWebhooks('d2', now + 600, 1000, 10);
      assert.equal(again?.attempts, 2);
      assert.equal(await s.queue.webhookDelivered(again!.id, 'd1', now + 601), false, 'only the lease holder');
      assert.equal(await s.queue.webhookDelivered(again!.id, 'd2', now + 601), true);
      assert.deepEqual(await s.queue.claimWebhooks('d3', now + 10_000_000, 1000, 10), []);
    });
  });
}
