/**
 * Upstream path: batchd running a batch against a loopback OpenAI-compatible fake with a
 * fixed service time and a concurrency limit, against a direct load generator (a plain
 * undici loop) at the same concurrency, in the same run. Target ratio ≥ 0.95.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { startFakeUpstream } from '../test/helpers/fake-upstream.js';
import { startChildServer } from '../test/helpers/child-process.js';
import { runJob, writeChatFile } from './lib/jobs.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const REQUESTS = quick ? 10_000 : 100_000;
const CONCURRENCY = 64;
const SERVICE_MS = 20;

const up = await startFakeUpstream({ latencyMs: SERVICE_MS, maxConcurrent: CONCURRENCY, record: false });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-up-'));

async function direct(): Promise<number> {
  const url = new URL(up.url);
  const pool = new Pool(url.origin, { connections: CONCURRENCY });
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        const res = await pool.request({
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: `request number ${i}` }] }),
        });
        await res.body.json();
      }
    }),
  );
  const ms = performance.now() - start;
  await pool.close();
  return REQUESTS / (ms / 1000);
}

try {
  const input = path.join(dir, 'input.jsonl');
  writeChatFile(input, REQUESTS);
  fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: [{ id: 'up', engine: 'openai', url: up.url, max_in_flight: CONCURRENCY }] }));
  const base = await direct();
  const server = await startChildServer(['serve', '--port', '0', '--data-dir', path.join(dir, 'data'), '--config', path.join(dir, 'models.json')], {
    BATCHD_API_KEYS: 'bench:bench',
    BATCHD_TICK_MS: '50',
    BATCHD_POLL_MS: '50',
  });
  let ours = 0;
  let rss = 0;
  try {
    const { ms, job } = await runJob(server.url, 'bench', input, 'up');
    if (job.status !== 'SUCCESS' || job.succeeded_requests !== REQUESTS) throw new Error(`job ended ${JSON.stringify(job)}`);
    ours = REQUESTS / (ms / 1000);
    rss = peakRssMb(server.proc.pid!);
  } finally {
    await server.stop();
  }
  const ideal = (CONCURRENCY * 1000) / SERVICE_MS;
  writeReport('upstream', 'Upstream path: batch throughput vs a direct load generator', [
    `${fmt(REQUESTS)} chat requests; fake upstream with ${SERVICE_MS} ms service time and at most ${CONCURRENCY} requests served at once (ideal ${fmt(ideal)}/s); batchd's model has max_in_flight ${CONCURRENCY}. batchd's time runs from job creation to SUCCESS (including admission, claiming, durable per-line records and the final fold).`,
    '',
    '| path | requests/s |',
    '|---|---|',
    `| baseline: undici loop, ${CONCURRENCY} concurrent | ${fmt(base)} |`,
    `| batchd batch job (SQLite, one process) | ${fmt(ours)} |`,
    '',
    `**Ratio: ${fmt(ours / base, 2)}** (target ≥ 0.95). batchd server peak RSS: ${rss} MB; bench process (fake upstream + load generator) ${peakRssMb()} MB.`,
  ]);
} finally {
  await up.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
