import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPgSchema, postgresTestOptions } from '../helpers/stores.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startChildServer, stopProcess, type ChildServer } from '../helpers/child-process.js';
import { chatLines, upstreamModels, waitFor } from '../helpers/server.js';
import { scrape } from './scrape.js';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'batchd.js');
const KEY = 'key-a';
const LINES = 400;
const opts = await postgresTestOptions();

/** `batchd worker` with BATCHD_METRICS_PORT=0: resolves with the process and the metrics URL it prints. */
function startMetricsWorker(args: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; metricsUrl: string }> {
  const proc = spawn(process.execPath, [BIN, 'worker', ...args], {
    env: { ...process.env, ...env, BATCHD_METRICS_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stderr!.on('data', (d) => (out += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const url = /batchd worker metrics on (\S+)/.exec(out)?.[1];
      if (url && /batchd worker \S+ running/.test(out)) resolve({ proc, metricsUrl: url });
    });
    proc.once('exit', (code) => reject(new Error(`batchd worker exited with ${code}: ${out}`)));
  });
}

describe('PostgreSQL: each worker process counts its own lines, and the sum over processes is the job', opts, () => {
  let up: FakeUpstream;
  let schema: { url: string; drop(): Promise<void> };
  let dir: string;
  let api: ChildServer;
  const workers: { proc: ChildProcess; metricsUrl: string }[] = [];

  before(async () => {
    up = await startFakeUpstream({ latencyMs: 3 });
    schema = await createPgSchema();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-metrics-'));
    fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify(upstreamModels(up.url, { max_in_flight: 8 })));
    const args = ['--data-dir', dir, '--database', schema.url, '--config', path.join(dir, 'models.json')];
    // The sources, not a build that may be stale; small chunks so that both workers take some.
    const env = { BATCHD_FROM_SOURCE: '1', BATCHD_API_KEYS: `a:${KEY}`, BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50', BATCHD_CHUNK_LINES: '25' };
    api = await startChildServer(['serve', '--no-worker', '--port', '0', ...args], env);
    for (let i = 0; i < 2; i++) workers.push(await startMetricsWorker(args, env));
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProcess(w.proc)));
    await api?.stop();
    await up?.close();
    await schema?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${api.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as Record<string, any>;
  };

  test(`a ${LINES}-line job: batchd_requests_total and batchd_tokens_total summed over the workers equal the job`, async () => {
    const form = new FormData();
    form.append(
      'file',
      new Blob([
        chatLines(LINES, 'pg')
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ]),
      'in.jsonl',
    );
    form.append('purpose', 'batch');
    const file = (await (await fetch(`${api.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form })).json()) as {
      id: string;
    };
    const created = await call('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [file.id] });
    const job = await waitFor(
      'the job to end',
      async () => {
        const j = await call('GET', `/v1/batch/jobs/${created.id}`);
        return j.status === 'SUCCESS' || j.status === 'FAILED' ? j : undefined;
      },
      120_000,
    );
    assert.equal(job.status, 'SUCCESS');
    assert.equal(job.succeeded_requests, LINES);

    const success = { mode: 'batch', model: 'up-openai', endpoint: '/v1/chat/completions', outcome: 'success' };
    // A worker counts a line just after its record commits: wait for the last increments rather than race them.
    const scrapes = await waitFor('the workers to count every line', async () => {
      const all = await Promise.all(workers.map((w) => scrape(w.metricsUrl)));
      return all.reduce((n, m) => n + m.sum('batchd_requests_total', success), 0) >= LINES ? all : undefined;
    });
    const perWorker = scrapes.map((m) => m.sum('batchd_requests_total', success));
    assert.equal(
      perWorker.reduce((a, b) => a + b, 0),
      LINES,
      `per worker: ${perWorker.join(', ')}`,
    );
    assert.ok(
      perWorker.every((n) => n > 0),
      `both workers ran lines: ${perWorker.join(', ')}`,
    );
    const tokens = (kind: string) => scrapes.reduce((n, m) => n + m.sum('batchd_tokens_total', { model: 'up-openai', kind }), 0);
    assert.equal(tokens('prompt'), job.usage.prompt_tokens);
    assert.equal(tokens('completion'), job.usage.completion_tokens);
    assert.equal(
      scrapes.reduce((n, m) => n + m.sum('batchd_engine_request_duration_seconds_count'), 0),
      up.calls.length,
      'every upstream call timed by the worker that made it',
    );
    // A worker's listener has its own counters and the process metrics, not the store-wide gauges (the API nodes have those).
    for (const m of scrapes) {
      assert.ok(m.sum('process_resident_memory_bytes') > 0);
      assert.ok(!m.has('batchd_jobs'));
    }
    const node = await scrape(`${api.url}/metrics`);
    assert.equal(node.sum('batchd_requests_total', { mode: 'batch' }), 0, 'the API node ran no line');
    assert.equal(node.sum('batchd_jobs', { status: 'SUCCESS' }), 1);
    assert.equal(node.sum('batchd_http_request_duration_seconds_count', { route: '/v1/batch/jobs', method: 'POST' }), 1);
  });

  test("a worker's metrics listener serves only GET /metrics", async () => {
    const base = workers[0]!.metricsUrl.replace(/\/metrics$/, '');
    assert.equal((await fetch(`${base}/v1/batch/jobs`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404);
  });
});
