import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import BetterSqlite3 from 'better-sqlite3';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { killHard, startChildServer, type ChildServer } from '../helpers/child-process.js';
import { uploadFile } from '../helpers/multipart-upload.js';
import { chatLines, jsonl, upstreamModels } from '../helpers/server.js';
import { createPgSchema, STORES, storeTestOptions, type StoreName } from '../helpers/stores.js';
import pg from 'pg';

/** CI runs the short mode; BATCHD_RELIABILITY_FULL=1 runs the full one (10k lines, 50 crashes). */
const FULL = process.env.BATCHD_RELIABILITY_FULL === '1';
const LINES = FULL ? 10_000 : 3_000;
const CRASHES = FULL ? 50 : 8;
const MAX_IN_FLIGHT = 8;
const KEY = 'key-a';

/** A `batchd serve` child on `store`, restarted at will, with a fake upstream and workspace a. */
function crashHarness(store: StoreName) {
  const h = {
    up: null as unknown as FakeUpstream,
    dir: '',
    server: null as ChildServer | null,
    args: [] as string[],
    schema: null as { url: string; drop(): Promise<void> } | null,
    env: {
      BATCHD_API_KEYS: `a:${KEY}`,
      BATCHD_TICK_MS: '50',
      BATCHD_POLL_MS: '50',
      BATCHD_CHUNK_LINES: '100',
      BATCHD_VALIDATION_THREADS: '0',
      // PostgreSQL outlives the process: a killed process's leases run out before another takes its chunks.
      ...(store === 'postgres' ? { BATCHD_LEASE_MS: '1000' } : {}),
    } as Record<string, string>,
    start: async () => (h.server = await startChildServer(h.args, h.env)),
    call: async (method: string, url: string, body?: unknown) => {
      const res = await fetch(`${h.server!.url}${url}`, {
        method,
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    },
  };
  before(async () => {
    h.up = await startFakeUpstream({ latencyMs: 3 });
    h.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-crash-'));
    fs.writeFileSync(path.join(h.dir, 'models.json'), JSON.stringify(upstreamModels(h.up.url, { max_in_flight: MAX_IN_FLIGHT })));
    h.args = ['serve', '--port', '0', '--data-dir', path.join(h.dir, 'data'), '--config', path.join(h.dir, 'models.json')];
    if (store === 'postgres') {
      h.schema = await createPgSchema();
      h.args.push('--database', h.schema.url);
    }
  });
  after(async () => {
    if (h.server) await killHard(h.server.proc);
    await h.up?.close();
    await h.schema?.drop();
    fs.rmSync(h.dir, { recursive: true, force: true });
  });
  return h;
}

for (const store of STORES) {
  describe(`crash loop on ${store}: kill -9 at random moments (${CRASHES} times) until a ${LINES}-line job ends`, await storeTestOptions(store), () => {
    const h = crashHarness(store);
    test('every line ends exactly once, counters match the files, upstream calls stay bounded, the store is intact', async () => {
      // 1 in 10 lines fails at the upstream, so both files are exercised.
      h.up.setFault((c) => (c.text.endsWith('7') ? { kind: 'status', status: 400 } : null));
      await h.start();
      const input = path.join(h.dir, 'input.jsonl');
      fs.writeFileSync(
        input,
        chatLines(LINES, 'c')
          .map((l) => JSON.stringify(l))
          .join('\n') + '\n',
      );
      const file = await uploadFile(h.server!.url, KEY, input);
      const created = await h.call('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [file.body.id] });
      const jobId = created.body.id as string;
      let crashes = 0;
      let job: Record<string, any> = created.body;
      while (!['SUCCESS', 'FAILED'].includes(job.status)) {
        if (crashes < CRASHES) {
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
          await killHard(h.server!.proc);
          crashes++;
          await h.start();
        } else {
          await new Promise((r) => setTimeout(r, 100));
        }
        job = (await h.call('GET', `/v1/batch/jobs/${jobId}`)).body;
      }
      assert.equal(job.status, 'SUCCESS');
      const text = async (id: string) => (await fetch(`${h.server!.url}/v1/files/${id}/content`, { headers: { authorization: `Bearer ${KEY}` } })).text();
      const output = jsonl(await text(job.output_file));
      const errors = jsonl(await text(job.error_file));
      const ids = [...output, ...errors].map((l) => l.custom_id);
      assert.equal(ids.length, LINES, 'one record per line');
      assert.equal(new Set(ids).size, LINES, 'no line twice');
      assert.equal(job.succeeded_requests, output.length);
      assert.equal(job.failed_requests, errors.length);
      assert.equal(errors.length, LINES / 10);
      // Work lost to a crash is bounded by what one process holds undurable: the calls in flight
      // plus one group-commit batch (at most 64 results) per chunk it holds (4), never a rerun.
      const bound = LINES + crashes * (MAX_IN_FLIGHT + 4 * 64);
      assert.ok(h.up.calls.length <= bound, `${h.up.calls.length} upstream calls for ${LINES} lines and ${crashes} crashes (bound ${bound})`);
      await killHard(h.server!.proc);
      h.server = null;
      if (store === 'sqlite') {
        const db = new BetterSqlite3(path.join(h.dir, 'data', 'batchd.sqlite'));
        try {
          assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
          const bad = db
            .prepare('select count(*) as n from batch_jobs j where total_requests != (select sum(line_count) from job_chunks c where c.job_id = j.id)')
            .get() as { n: number };
          assert.equal(bad.n, 0);
        } finally {
          db.close();
        }
      } else {
        const client = new pg.Client({ connectionString: h.schema!.url });
        await client.connect();
        try {
          const rows = await client.query(
            'select (select count(*) from job_results where job_id = $1) as records, (select sum(succeeded + failed) from job_chunks where job_id = $1) as counted',
            [jobId],
          );
          assert.deepEqual([Number(rows.rows[0].records), Number(rows.rows[0].counted)], [LINES, LINES], 'records and counters agree');
        } finally {
          await client.end();
        }
      }
    });
  });
}

describe('crashes during an upload and during job creation (SQLite)', () => {
  const h = crashHarness('sqlite');

  test('a crash during an upload never leaves a usable partial file', async () => {
    await h.start();
    const before = (await h.call('GET', '/v1/files')).body.total;
    // Send the headers and part of a large body, then kill the server mid-stream.
    const boundary = 'crashboundary';
    const req = http.request(`${h.server!.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': 50_000_000 },
    });
    req.on('error', () => undefined);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="partial.jsonl"\r\n\r\n`);
    for (let i = 0; i < 2000; i++) req.write(`${JSON.stringify(chatLines(1, `p${i}-`)[0])}\n`);
    await new Promise((r) => setTimeout(r, 100));
    await killHard(h.server!.proc);
    req.destroy();
    await h.start();
    const list = (await h.call('GET', '/v1/files')).body;
    assert.equal(list.total, before);
    assert.ok(list.data.every((f: { filename: string }) => f.filename !== 'partial.jsonl'));
    assert.deepEqual(fs.readdirSync(path.join(h.dir, 'data', 'blobs', 'tmp')), [], 'the partial bytes were cleaned up at restart');
  });

  test('a crash during job creation leaves either a whole job or none', async () => {
    for (let i = 0; i < 5; i++) {
      const send = h
        .call('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(2000, `k${i}-`) })
        .catch(() => null);
      await new Promise((r) => setTimeout(r, Math.random() * 30));
      await killHard(h.server!.proc);
      await send;
      await h.start();
    }
    await killHard(h.server!.proc);
    h.server = null;
    const db = new BetterSqlite3(path.join(h.dir, 'data', 'batchd.sqlite'));
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      const half = db
        .prepare('select count(*) as n from batch_jobs j where total_requests != coalesce((select sum(line_count) from job_chunks c where c.job_id = j.id), 0)')
        .get() as { n: number };
      assert.equal(half.n, 0, 'every job has exactly the work items of its lines');
    } finally {
      db.close();
    }
  });
});
