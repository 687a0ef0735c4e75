/**
 * Scaling over workers: PostgreSQL, one API node, and 1 then 4 worker processes, each
 * with a per-worker in-flight cap, against a fake upstream of fixed 20 ms latency.
 * Target: 4 workers ≥ 3.2× the throughput of 1 worker, measured in the same run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startFakeUpstream } from '../test/helpers/fake-upstream.js';
import { startChildServer, startChildWorker, stopProcess } from '../test/helpers/child-process.js';
import { createPgSchema, postgresUnavailable } from '../test/helpers/stores.js';
import { runJob, writeChatFile } from './lib/jobs.js';
import { fmt, quick, writeReport } from './lib/report.js';

const REQUESTS = quick ? 4_000 : 20_000;
const PER_WORKER = 16;
const LATENCY_MS = 20;

const pgDown = await postgresUnavailable();
if (pgDown) {
  console.log(`scaling benchmark skipped: ${pgDown}`);
  process.exit(0);
}
const up = await startFakeUpstream({ latencyMs: LATENCY_MS, record: false });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-scale-'));
const input = path.join(dir, 'input.jsonl');
writeChatFile(input, REQUESTS);
fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: [{ id: 'up', engine: 'openai', url: up.url, max_in_flight: PER_WORKER }] }));

async function measure(workers: number): Promise<number> {
  const schema = await createPgSchema();
  const args = ['--data-dir', path.join(dir, `w${workers}`), '--database', schema.url, '--config', path.join(dir, 'models.json')];
  const env = { BATCHD_API_KEYS: 'bench:bench', BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50', BATCHD_CHUNK_LINES: '200' };
  const api = await startChildServer(['serve', '--no-worker', '--port', '0', ...args], env);
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) procs.push(await startChildWorker(args, env));
    const { ms, job } = await runJob(api.url, 'bench', input, 'up', 100);
    if (job.status !== 'SUCCESS' || job.succeeded_requests !== REQUESTS) throw new Error(`job ended ${JSON.stringify(job)}`);
    return REQUESTS / (ms / 1000);
  } finally {
    await Promise.all(procs.map(stopProcess));
    await api.stop();
    await schema.drop();
  }
}

try {
  const one = await measure(1);
  const four = await measure(4);
  const ideal = (PER_WORKER * 1000) / LATENCY_MS;
  writeReport('scaling', 'Scaling: 4 workers vs 1 worker on PostgreSQL', [
    `${fmt(REQUESTS)} chat requests; fake upstream with ${LATENCY_MS} ms latency and no concurrency limit; each worker may have ${PER_WORKER} requests in flight (ideal ${fmt(ideal)}/s per worker).`,
    '',
    '| workers | requests/s |',
    '|---|---|',
    `| 1 | ${fmt(one)} |`,
    `| 4 | ${fmt(four)} |`,
    '',
    `**Speed-up: ${fmt(four / one, 2)}×** (target ≥ 3.2×).`,
  ]);
} finally {
  await up.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
