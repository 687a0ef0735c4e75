import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPgSchema, postgresTestOptions } from '../helpers/stores.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { killHard, startChildServer, startChildWorker, stopProcess, type ChildServer, type ChildWorker } from '../helpers/child-process.js';
import { chatLines, jsonl, upstreamModels } from '../helpers/server.js';

const KEY = 'key-a';
const KEY_B = 'key-b';
const APP = `batchd-cluster-${process.pid}`;
const opts = await postgresTestOptions();

describe('PostgreSQL: two API nodes and three worker processes', opts, () => {
  let up: FakeUpstream;
  let schema: { url: string; drop(): Promise<void> };
  let dir: string;
  let api: ChildServer;
  /** A second API node: whatever one node accepted, the other serves. */
  let api2: ChildServer;
  const workers: ChildWorker[] = [];
  let args: string[];
  let env: Record<string, string>;

  before(async () => {
    up = await startFakeUpstream({ latencyMs: 2 });
    schema = await createPgSchema();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-cluster-'));
    fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify(upstreamModels(up.url, { max_in_flight: 16 })));
    // Tagged connections, so a test can cut exactly this cluster's sessions (other tests share the database).
    args = ['--data-dir', dir, '--database', `${schema.url}&application_name=${APP}`, '--config', path.join(dir, 'models.json')];
    env = { BATCHD_API_KEYS: `a:${KEY},b:${KEY_B}`, BATCHD_LEASE_MS: '1500', BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50', BATCHD_CHUNK_LINES: '200' };
    api = await startChildServer(['serve', '--no-worker', '--port', '0', ...args], env);
    api2 = await startChildServer(['serve', '--no-worker', '--port', '0', ...args], env);
    for (let i = 0; i < 3; i++) workers.push(await startChildWorker(args, env));
  });
  after(async () => {
    await Promise.all(workers.map(stopProcess));
    await api?.stop();
    await api2?.stop();
    await up?.close();
    await schema?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, url: string, body?: unknown, key = KEY, node = api) => {
    const res = await fetch(`${node.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Record<string, any>;
  };
  async function upload(n: number, prefix: string, key = KEY) {
    const form = new FormData();
    form.append(
      'file',
      new Blob([
        chatLines(n, prefix)
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ]),
      'in.jsonl',
    );
    form.append('purpose', 'batch');
    return (await (await fetch(`${api.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })).json()) as { id: string };
  }
  async function waitUntil(id: string, done: (job: Record<string, any>) => boolean, timeoutMs = 120_000, key = KEY) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await call('GET', `/v1/batch/jobs/${id}`, undefined, key);
      if (done(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} stuck: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /** Uploads `n` chat lines and creates a job over them on the first API node. */
  async function createJob(n: number, prefix: string, key = KEY) {
    const file = await upload(n, prefix, key);
    return call('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [file.id] }, key);
  }
  const finished = (id: string) => waitUntil(id, (j) => j.status === 'SUCCESS' || j.status === 'FAILED');
  // Read through the other API node: results are in the shared store, not in any process.
  const download = async (id: string | null) =>
    id ? await (await fetch(`${api2.url}/v1/files/${id}/content`, { headers: { authorization: `Bearer ${KEY}` } })).text() : '';
  const leasedBy = (jobId: string, owner: string) => chunkStat(schema.url, jobId, `count(*) filter (where state = 'leased' and lease_owner = '${owner}')`);
  /** A 3,000-line job at 20 ms a call; `disturb` runs once 300 lines are done; the job must still end SUCCESS, every line once. */
  async function survives(prefix: string, disturb: (job: Record<string, any>) => Promise<void>) {
    up.setLatency(20);
    try {
      const job = await createJob(3000, prefix);
      await waitUntil(job.id, (j) => j.completed_requests >= 300);
      await disturb(job);
      const done = await finished(job.id);
      assert.equal(done.status, 'SUCCESS');
      await assertExactlyOnce(done, 3000, prefix);
    } finally {
      up.setLatency(2);
    }
  }
  async function assertExactlyOnce(job: Record<string, any>, n: number, prefix: string) {
    const lines = [...jsonl(await download(job.output_file)), ...jsonl(await download(job.error_file))];
    const ids = lines.map((l) => l.custom_id);
    assert.equal(ids.length, n, 'one line per request');
    assert.equal(new Set(ids).size, n, 'no request twice');
    assert.ok(ids.every((id) => id.startsWith(prefix)));
    assert.equal(job.completed_requests, n);
  }

  test('a 20,000-line job completes with every line exactly once, spread over the workers', async () => {
    const job = await createJob(20_000, 'big');
    const done = await finished(job.id);
    assert.equal(done.status, 'SUCCESS');
    await assertExactlyOnce(done, 20_000, 'big');
    // A done chunk keeps the owner that finished it.
    const owners = await chunkStat(schema.url, job.id, "count(distinct lease_owner) filter (where state = 'done')");
    assert.ok(owners >= 2, `chunks were claimed by ${owners} worker(s)`);
  });

  test('a worker killed with -9 mid-run: its chunks are reclaimed and the job still completes exactly once', async () => {
    await survives('kill', () => killHard(workers[0]!));
    workers[0] = await startChildWorker(args, env);
  });

  test('a worker stopped with SIGTERM hands its chunks back at once (no wait for its leases to expire)', async () => {
    await survives('term', async (job) => {
      const leaving = workers[2]!;
      const held = await leasedBy(job.id, leaving.workerId);
      assert.ok(held >= 1, 'the worker held a chunk when it was stopped');
      await stopProcess(leaving);
      assert.equal(leaving.exitCode, 0, 'a clean exit');
      assert.equal(await leasedBy(job.id, leaving.workerId), 0, `it held ${held} chunk(s) and kept none`);
    });
    workers[2] = await startChildWorker(args, env);
  });

  test('a paused worker (SIGSTOP) loses its chunks; resumed after the job ended, it cannot change a single result', async () => {
    up.setLatency(20);
    const job = await createJob(3000, 'pause');
    await waitUntil(job.id, (j) => j.completed_requests >= 300);
    const paused = workers[1]!;
    paused.kill('SIGSTOP');
    let done: Record<string, any>;
    try {
      done = await finished(job.id);
    } finally {
      paused.kill('SIGCONT');
    }
    assert.equal(done.status, 'SUCCESS');
    assert.ok((await chunkStat(schema.url, job.id, 'max(attempts)')) >= 2, 'the paused worker held a chunk that another worker took over');
    const before = await download(done.output_file);
    // Resumed, it finishes the calls it had in flight and tries to record them: every write is fenced out.
    await new Promise((r) => setTimeout(r, 1500));
    const after = await call('GET', `/v1/batch/jobs/${job.id}`);
    assert.equal(await download(done.output_file), before);
    assert.equal(after.completed_requests, 3000);
    await assertExactlyOnce(after, 3000, 'pause');
    assert.equal(paused.exitCode, null, 'the resumed worker keeps running');
    up.setLatency(2);
  });

  test('fair share holds across worker processes: a small job of another workspace does not wait behind a big one', async () => {
    up.setLatency(30);
    const a = await createJob(8000, 'fairA');
    // Every worker is busy with workspace a's chunks before workspace b asks for anything.
    await waitUntil(a.id, (j) => j.completed_requests >= 500);
    const b = await createJob(600, 'fairB', KEY_B);
    const bDone = await waitUntil(b.id, (j) => j.status === 'SUCCESS', 120_000, KEY_B);
    const aThen = await call('GET', `/v1/batch/jobs/${a.id}`);
    // First come, first served would run b only once a's 40 chunks were all claimed.
    assert.equal(aThen.status, 'RUNNING', `a was ${aThen.status} with ${aThen.completed_requests} done when b finished`);
    assert.ok(aThen.completed_requests < 8000 - 1000, `a had ${aThen.completed_requests} of 8000 done when b finished`);
    assert.equal(bDone.succeeded_requests, 600);
    const aDone = await finished(a.id);
    assert.equal(aDone.status, 'SUCCESS');
    await assertExactlyOnce(aDone, 8000, 'fairA');
    up.setLatency(2);
  });

  test('PostgreSQL sessions cut mid-run (as in a failover): every process stays up and the job completes exactly once', async () => {
    up.setLatency(20);
    const job = await createJob(4000, 'cut');
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
    try {
      for (const at of [400, 1500]) {
        await waitUntil(job.id, (j) => j.completed_requests >= at);
        const cut = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [APP]);
        assert.ok(cut.rowCount! >= 4, `cut ${cut.rowCount} sessions`);
      }
    } finally {
      await admin.end();
    }
    const done = await finished(job.id);
    assert.equal(done.status, 'SUCCESS');
    await assertExactlyOnce(done, 4000, 'cut');
    for (const p of [api.proc, api2.proc, ...workers]) assert.equal(p.exitCode, null, `process ${p.pid} exited`);
    up.setLatency(2);
  });

  test('a cancel on the other API node stops the work on every worker', async () => {
    up.setLatency(30);
    const job = await createJob(5000, 'cancel');
    await waitUntil(job.id, (j) => j.completed_requests >= 200);
    const cancelled = await call('POST', `/v1/batch/jobs/${job.id}/cancel`, undefined, KEY, api2);
    assert.equal(cancelled.status, 'CANCELLATION_REQUESTED');
    const done = await waitUntil(job.id, (j) => j.status === 'CANCELLED');
    await assertExactlyOnce(done, 5000, 'cancel');
    assert.ok(done.succeeded_requests < 5000);
    // Within a scheduler tick every worker has aborted: no upstream call for this job after that.
    await new Promise((r) => setTimeout(r, 500));
    const calls = up.calls.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(up.calls.length, calls);
    up.setLatency(2);
  });
});

/** One number about a job's chunks, read straight from the store. */
async function chunkStat(url: string, jobId: string, expr: string): Promise<number> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query(`select ${expr} as n from job_chunks where job_id = $1`, [jobId]);
    return Number(res.rows[0].n);
  } finally {
    await client.end();
  }
}
