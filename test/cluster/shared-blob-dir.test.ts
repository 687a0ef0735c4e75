import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createPgSchema, postgresTestOptions } from '../helpers/stores.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startChildServer, startChildWorker, stopProcess, type ChildServer } from '../helpers/child-process.js';
import { uploadFile } from '../helpers/multipart-upload.js';
import { chatLines, jsonl, upstreamModels, waitFor } from '../helpers/server.js';

const opts = await postgresTestOptions();
const WORKER_APP = `batchd-pool-${process.pid}`;

/** PostgreSQL for the store, a shared directory for file bytes: an upload on one node is read by a worker in another process. */
describe('PostgreSQL with a shared --blob-dir', opts, () => {
  let up: FakeUpstream;
  let schema: { url: string; drop(): Promise<void> };
  let dir: string;
  let api: ChildServer;
  let worker: ChildProcess;
  before(async () => {
    up = await startFakeUpstream();
    schema = await createPgSchema();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-shared-'));
    fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify(upstreamModels(up.url)));
    const common = ['--blob-dir', path.join(dir, 'shared'), '--config', path.join(dir, 'models.json')];
    const env = { BATCHD_API_KEYS: 'a:key-a', BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50' };
    api = await startChildServer(['serve', '--no-worker', '--port', '0', '--data-dir', path.join(dir, 'api'), '--database', schema.url, ...common], env);
    // The worker's sessions are tagged, and its pool is held to 2 connections.
    worker = await startChildWorker(['--data-dir', path.join(dir, 'worker'), '--database', `${schema.url}&application_name=${WORKER_APP}`, ...common], {
      ...env,
      BATCHD_PG_POOL_SIZE: '2',
    });
  });
  after(async () => {
    await stopProcess(worker);
    await api?.stop();
    await up?.close();
    await schema?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the bytes live in the shared directory, not in the database; the job runs on a worker with a pool of 2, which purges it once deleted', async () => {
    const input = path.join(dir, 'in.jsonl');
    fs.writeFileSync(
      input,
      chatLines(2000, 's')
        .map((l) => JSON.stringify(l))
        .join('\n'),
    );
    const file = await uploadFile(api.url, 'key-a', input);
    assert.equal(file.status, 200);
    const headers = { authorization: 'Bearer key-a', 'content-type': 'application/json' };
    let job = (await (
      await fetch(`${api.url}/v1/batch/jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ input_files: [file.body.id], model: 'up-openai', endpoint: '/v1/chat/completions' }),
      })
    ).json()) as Record<string, any>;
    while (job.status === 'QUEUED' || job.status === 'RUNNING') {
      await new Promise((r) => setTimeout(r, 100));
      job = (await (await fetch(`${api.url}/v1/batch/jobs/${job.id}`, { headers })).json()) as Record<string, any>;
    }
    assert.equal(job.status, 'SUCCESS');
    const out = jsonl(await (await fetch(`${api.url}/v1/files/${job.output_file}/content`, { headers })).text());
    assert.equal(new Set(out.map((l) => l.custom_id)).size, 2000);
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      assert.equal(Number((await client.query('select count(*) as n from blob_pieces')).rows[0].n), 0, 'no bytes in the database');
      const sessions = Number((await client.query('select count(*) as n from pg_stat_activity where application_name = $1', [WORKER_APP])).rows[0].n);
      assert.ok(sessions >= 1 && sessions <= 3, `the worker holds ${sessions} sessions (pool of 2 plus LISTEN)`);
      // A job deleted on the API node (which runs no scheduler) is purged by the worker, told by NOTIFY.
      assert.equal((await fetch(`${api.url}/v1/batch/jobs/${job.id}`, { method: 'DELETE', headers })).status, 200);
      const left = async () => Number((await client.query('select count(*) as n from job_results where job_id = $1', [job.id])).rows[0].n);
      await waitFor('the deleted job purged', async () => ((await left()) === 0 ? true : undefined), 10_000);
    } finally {
      await client.end();
    }
    const blobs = (fs.readdirSync(path.join(dir, 'shared'), { recursive: true }) as string[]).filter((p) => /^[0-9a-f]{2}\/[0-9a-f-]{36}$/.test(p));
    assert.equal(blobs.length, 1, 'the upload is one blob in the shared directory');
  });
});
