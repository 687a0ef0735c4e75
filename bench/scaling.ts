/**
 * Scaling over workers: PostgreSQL, one API node, and 1 then 4 worker processes, each
 * with a per-worker in-flight cap, against a fake upstream of fixed 20 ms latency.
 * Target: 4 workers ≥ 3.2× the throughput of 1 worker, measured in the same run.
 *
 * Each set of workers runs the same job twice. The first run is a cold start (fresh
 * processes: V8 has not optimised the hot paths yet, so each request costs more CPU, and
 * on this 2-core machine the 4-worker set is then short of CPU); the second is the steady state a
 * long-running server is in, and the target is judged on it. Both are reported.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startFakeUpstream } from '../test/helpers/fake-upstream.js';
import { startChildServer, startChildWorker, stopProcess } from '../test/helpers/child-process.js';
import { createPgSchema, postgresUnavailable } from '../test/helpers/stores.js';
import { runJob, writeChatFile } from './lib/jobs.js';
import { cpuSeconds, fmt, quick, writeReport } from './lib/report.js';

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

interface Run {
  rate: number;
  /** Worker CPU per request, all workers together, in ms. */
  cpuMs: number;
}

async function measure(workers: number): Promise<Run[]> {
  const schema = await createPgSchema();
  const args = ['--data-dir', path.join(dir, `w${workers}`), '--database', schema.url, '--config', path.join(dir, 'models.json')];
  const env = { BATCHD_API_KEYS: 'bench:bench', BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50', BATCHD_CHUNK_LINES: '200' };
  const api = await startChildServer(['serve', '--no-worker', '--port', '0', ...args], env);
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) procs.push(await startChildWorker(args, env));
    const workerCpu = () => procs.reduce((sum, p) => sum + cpuSeconds(p.pid!), 0);
    const runs: Run[] = [];
    for (let i = 0; i < 2; i++) {
      const before = workerCpu();
      const { ms, job } = await runJob(api.url, 'bench', input, 'up', 100);
      if (job.status !== 'SUCCESS' || job.succeeded_requests !== REQUESTS) throw new Error(`job ended ${JSON.stringify(job)}`);
      runs.push({ rate: REQUESTS / (ms / 1000), cpuMs: ((workerCpu() - before) * 1000) / REQUESTS });
    }
    return runs;
  } finally {
    await Promise.all(procs.map(stopProcess));
    await api.stop();
    await schema.drop();
  }
}

try {
  const [oneCold, oneWarm] = await measure(1);
  const [fourCold, fourWarm] = await measure(4);
  const ideal = (PER_WORKER * 1000) / LATENCY_MS;
  const row = (label: string, one: Run, four: Run) =>
    `| ${label} | ${fmt(one.rate)} | ${fmt(four.rate)} | **${fmt(four.rate / one.rate, 2)}×** | ${fmt(one.cpuMs, 2)} / ${fmt(four.cpuMs, 2)} |`;
  writeReport('scaling', 'Scaling: 4 workers vs 1 worker on PostgreSQL', [
    `${fmt(REQUESTS)} chat requests per job; one API node (\`serve --no-worker\`) and worker processes (\`batchd worker\`) on one PostgreSQL database; fake upstream with ${LATENCY_MS} ms latency and no concurrency limit; each worker may have ${PER_WORKER} requests in flight (ideal ${fmt(ideal)}/s per worker). Throughput is job creation → terminal status.`,
    '',
    'Each set of workers runs the job twice: first as fresh processes (cold), then again (warm, the steady state of a long-running server).',
    '',
    '| run | 1 worker, requests/s | 4 workers, requests/s | speed-up | worker CPU ms/request (1 / 4) |',
    '|---|---|---|---|---|',
    row('cold (fresh processes)', oneCold!, fourCold!),
    row('warm (second job)', oneWarm!, fourWarm!),
    '',
    `**Speed-up, warm: ${fmt(fourWarm!.rate / oneWarm!.rate, 2)}×, cold: ${fmt(fourCold!.rate / oneCold!.rate, 2)}×** (target ≥ 3.2×). On this 2-core machine the 4 workers, the API node, PostgreSQL and the fake upstream share two cores; cold, the 4 workers spend ${fmt(fourCold!.cpuMs / fourWarm!.cpuMs, 1)}× the CPU per request they spend warm.`,
  ]);
} finally {
  await up.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
