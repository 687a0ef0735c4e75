import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { STORES, SUITE_LEASE_MS, storeSuite } from '../helpers/stores.js';
import { okOutcome, seedJob } from '../helpers/fixtures.js';
import type { Db } from '../../src/store/database.js';
import type { Queue } from '../../src/queue/index.js';
import { buildRegistry } from '../../src/models/registry.js';
import { ResultsReader } from '../../src/results/results-reader.js';

const LEASE = SUITE_LEASE_MS;

/** The job as clients see it: live counters while it runs. */
async function jobRow({ db, queue }: { db: Db; queue: Queue }, id: string) {
  const row = await db.kysely.selectFrom('batch_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return (await queue.withLiveCounters([row]))[0]!;
}

async function resultCount(db: Db, id: string) {
  const r = await db.kysely
    .selectFrom('job_results')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('job_id', '=', id)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

for (const name of STORES) {
  describe(`ledger on ${name}`, async () => {
    const s = await storeSuite(name);
    const { opts } = s;

    test('a stale fencing token cannot record results after the chunk was reclaimed', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-fence', 10, { now });
      await s.queue.admit(1_000_000, now);
      const first = await s.queue.claim('w1', now);
      assert.ok(first);
      // w1 stalls past its lease; w2 reclaims the same chunk with a higher token.
      const second = await s.queue.claim('w2', now + LEASE + 1);
      assert.ok(second);
      assert.equal(second.chunk_no, first.chunk_no);
      assert.ok(second.token > first.token);
      const stale = await s.queue.record({ job_id: job.id, chunk_no: first.chunk_no, token: first.token }, [okOutcome(0)], now);
      assert.equal(stale, false);
      assert.equal(await resultCount(s.db, job.id), 0);
      const fresh = await s.queue.record({ job_id: job.id, chunk_no: second.chunk_no, token: second.token }, [okOutcome(0)], now);
      assert.equal(fresh, true);
      assert.equal(await resultCount(s.db, job.id), 1);
    });

    // PostgreSQL only: SQLite writers never overlap (BEGIN IMMEDIATE serialises them).
    if (name === 'postgres') {
      test('a record write that waits on a closer re-fencing the chunk writes and counts nothing', opts, async () => {
        const now = Date.now();
        const job = await seedJob(s.db, s.blobs, 'ws-race', 10, { now });
        await s.queue.admit(1_000_000, now);
        const c = await s.queue.claim('w1', now);
        assert.ok(c && c.job_id === job.id);
        const closer = new pg.Client({ connectionString: s.store.url });
        await closer.connect();
        try {
          await closer.query('begin');
          await closer.query('update job_chunks set lease_token = lease_token + 1 where job_id = $1 and chunk_no = $2', [job.id, c.chunk_no]);
          // The worker's write queues behind the closer's row lock (or, if it starts late, sees the new token).
          const write = s.queue.record({ job_id: job.id, chunk_no: c.chunk_no, token: c.token }, [okOutcome(0), okOutcome(1)], now);
          await new Promise((r) => setTimeout(r, 100));
          await closer.query('commit');
          assert.equal(await write, false);
        } finally {
          await closer.end();
        }
        assert.equal(await resultCount(s.db, job.id), 0);
        const chunk = await s.db.kysely
          .selectFrom('job_chunks')
          .selectAll()
          .where('job_id', '=', job.id)
          .where('chunk_no', '=', c.chunk_no)
          .executeTakeFirstOrThrow();
        assert.equal(Number(chunk.succeeded), 0);
        assert.equal(Number(chunk.lease_expires_at), now + LEASE);
      });
    }

    test('a line recorded twice is stored once and counted once', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-twice', 10, { now });
      await s.queue.admit(1_000_000, now);
      const c = await s.queue.claim('w1', now);
      assert.ok(c && c.job_id === job.id);
      const lease = { job_id: job.id, chunk_no: c.chunk_no, token: c.token };
      assert.ok(await s.queue.record(lease, [okOutcome(0), okOutcome(1)], now));
      assert.ok(await s.queue.record(lease, [okOutcome(1), okOutcome(2), okOutcome(2)], now));
      const row = await jobRow(s, job.id);
      assert.equal(await resultCount(s.db, job.id), 3);
      assert.equal(Number(row.completed_requests), 3);
      assert.equal(Number(row.succeeded_requests), 3);
      assert.equal(Number(row.prompt_tokens), 6);
      const [out] = await s.queue.withLiveSizes([
        await s.db.kysely.selectFrom('files').selectAll().where('id', '=', row.output_file!).executeTakeFirstOrThrow(),
      ]);
      assert.ok(out);
      assert.equal(Number(out.num_lines), 3);
      const text = await streamText(new ResultsReader(s.queue).stream(job.id, 'output'));
      assert.equal(Buffer.byteLength(text), Number(out.bytes));
      assert.deepEqual(
        text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).response.body.n),
        [0, 1, 2],
      );
    });

    test('one write of 10,000 records stays under the store parameter limits', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-wide', 10_000, { now, chunkLines: 10_000 });
      await s.queue.admit(1_000_000, now);
      const c = await s.queue.claim('w1', now);
      assert.ok(c && c.job_id === job.id);
      const all = Array.from({ length: 10_000 }, (_, i) => okOutcome(i));
      assert.ok(await s.queue.record({ job_id: job.id, chunk_no: c.chunk_no, token: c.token }, all, now));
      assert.equal(await resultCount(s.db, job.id), 10_000);
      assert.equal(Number((await jobRow(s, job.id)).succeeded_requests), 10_000);
    });

    test('claims share work between workspaces by their live leases', opts, async () => {
      const now = Date.now();
      const a = await seedJob(s.db, s.blobs, 'ws-fair-a', 40, { now });
      const b = await seedJob(s.db, s.blobs, 'ws-fair-b', 40, { now: now + 1 });
      await s.queue.admit(1_000_000, now);
      const owners: string[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await s.queue.claim(`w${i}`, now);
        assert.ok(c);
        owners.push(c.job_id === a.id ? 'a' : c.job_id === b.id ? 'b' : 'other');
      }
      // Earlier tests' jobs may hold leases too, but a and b alternate once both are open.
      const ab = owners.filter((o) => o !== 'other');
      assert.ok(ab.filter((o) => o === 'a').length >= 1 && ab.filter((o) => o === 'b').length >= 1, `claims went to ${owners.join(',')}`);
    });

    test('cancel closes out open lines as batch_cancelled and keeps finished results', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-cancel', 25, { now, chunkLines: 10 });
      await s.queue.admit(1_000_000, now);
      const c = await s.queue.claim('w1', now);
      assert.ok(c);
      // The workspace with no live lease is served first, so this claim is our job's.
      assert.equal(c.job_id, job.id);
      const own = { job_id: c.job_id, chunk_no: c.chunk_no, token: c.token };
      assert.ok(await s.queue.record(own, [okOutcome(Number(c.first_line)), okOutcome(Number(c.first_line) + 1)], now));
      await s.db.kysely.updateTable('batch_jobs').set({ status: 'CANCELLATION_REQUESTED' }).where('id', '=', job.id).execute();
      await s.queue.close({ id: job.id, workspace: 'ws-cancel', status: 'CANCELLATION_REQUESTED' }, 'closer', now);
      const row = await jobRow(s, job.id);
      assert.equal(row.status, 'CANCELLED');
      assert.equal(await resultCount(s.db, job.id), 25);
      assert.equal(Number(row.completed_requests), 25);
      assert.equal(Number(row.succeeded_requests), 2);
      assert.equal(Number(row.failed_requests), 23);
      const errors = await streamText(new ResultsReader(s.queue).stream(job.id, 'error'));
      const first = JSON.parse(errors.split('\n')[0]!);
      assert.equal(first.error.code, 'batch_cancelled');
      assert.match(first.custom_id, /^ws-cancel-\d+$/);
      // The worker that held the chunk before the cancel is fenced out.
      assert.equal(await s.queue.record(own, [okOutcome(5)], now), false);
    });

    test('an expired job times out with batch_expired records for unfinished lines', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-expire', 12, { now, timeoutHours: 1 });
      await s.queue.admit(1_000_000, now);
      const later = now + 3600_000 + 1;
      await s.queue.close({ id: job.id, workspace: 'ws-expire', status: 'RUNNING' }, 'closer', later);
      const row = await jobRow(s, job.id);
      assert.equal(row.status, 'TIMEOUT_EXCEEDED');
      assert.equal(Number(row.failed_requests), 12);
      const groups = await new ResultsReader(s.queue).errorGroups(job.id);
      assert.equal(groups.length, 1);
      assert.equal(groups[0]!.count, 12);
    });

    test('a queued job waits for workspace capacity and starts once enough is done (the FAQ example, scaled)', opts, async () => {
      const now = Date.now();
      const cap = 10;
      const first = await seedJob(s.db, s.blobs, 'ws-cap', 6, { now, chunkLines: 6 });
      const second = await seedJob(s.db, s.blobs, 'ws-cap', 6, { now: now + 1, chunkLines: 6 });
      await s.queue.admit(cap, now);
      assert.equal((await jobRow(s, first.id)).status, 'RUNNING');
      assert.equal((await jobRow(s, second.id)).status, 'QUEUED');
      const c = await s.queue.claim('w1', now);
      assert.ok(c);
      assert.equal(c.job_id, first.id);
      const lease = { job_id: first.id, chunk_no: c.chunk_no, token: c.token };
      await s.queue.record(lease, [okOutcome(0)], now);
      await s.queue.admit(cap, now);
      assert.equal((await jobRow(s, second.id)).status, 'QUEUED', '5 pending + 6 > 10');
      await s.queue.record(lease, [okOutcome(1)], now);
      await s.queue.admit(cap, now);
      assert.equal((await jobRow(s, second.id)).status, 'RUNNING', '4 pending + 6 <= 10');
      await s.queue.record(lease, [2, 3, 4, 5].map(okOutcome), now);
      assert.ok(await s.queue.finish(lease));
      await s.queue.complete(now);
      assert.equal((await jobRow(s, first.id)).status, 'SUCCESS');
    });

    test('a workspace over its spend limit gets no new job started', opts, async () => {
      const now = Date.now();
      const cfg = path.join(s.store.dir, 'models.json');
      fs.writeFileSync(
        cfg,
        JSON.stringify({
          models: [{ id: 'priced', engine: 'openai', url: 'http://127.0.0.1:9/v1', input_price_per_mtok: 1_000_000, output_price_per_mtok: 0 }],
          workspaces: { 'ws-spend': { spend_limit_usd: 1 } },
        }),
      );
      const registry = buildRegistry({ defaultModelPath: '/nonexistent.gguf', configPath: cfg, modelFiles: [] });
      const check = (ws: string) => s.queue.spendLimitReached(registry, ws);
      const first = await seedJob(s.db, s.blobs, 'ws-spend', 3, { now, model: 'priced' });
      await s.queue.admit(1_000_000, now, check);
      assert.equal((await jobRow(s, first.id)).status, 'RUNNING');
      // Two prompt tokens at $1 per token at batch price (50% off): $1 spent, the limit.
      await s.db.kysely.updateTable('job_chunks').set({ prompt_tokens: 2 }).where('job_id', '=', first.id).where('chunk_no', '=', 0).execute();
      const second = await seedJob(s.db, s.blobs, 'ws-spend', 3, { now: now + 1, model: 'priced' });
      await s.queue.admit(1_000_000, now, check);
      assert.equal((await jobRow(s, second.id)).status, 'QUEUED');
      assert.equal(await check('ws-other'), false);
    });
  });
}

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of stream) s += chunk.toString();
  return s;
}
