/**
 * Overhead per request: the batchd server's CPU time per batch request, and the latency
 * batchd adds to online calls (p50/p99 over a direct call to the same upstream), alone
 * and while a large batch runs on the same model.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { startFakeUpstream } from '../test/helpers/fake-upstream.js';
import { startChildServer } from '../test/helpers/child-process.js';
import { runJob, writeChatFile } from './lib/jobs.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const ONLINE = quick ? 200 : 1000;
const BATCH = quick ? 10_000 : 50_000;
const LATENCY_MS = 10;

const up = await startFakeUpstream({ latencyMs: LATENCY_MS, record: false });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-overhead-'));
const body = (i: number) => JSON.stringify({ model: 'up', max_tokens: 16, messages: [{ role: 'user', content: `online ${i}` }] });

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function latencies(url: string, headers: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < ONLINE; i++) {
    const t = performance.now();
    const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body(i) });
    await res.body.json();
    if (res.statusCode !== 200) throw new Error(`online call answered ${res.statusCode}`);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

try {
  const input = path.join(dir, 'input.jsonl');
  writeChatFile(input, BATCH);
  fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: [{ id: 'up', engine: 'openai', url: up.url, max_in_flight: 32 }] }));
  const server = await startChildServer(['serve', '--port', '0', '--data-dir', path.join(dir, 'data'), '--config', path.join(dir, 'models.json')], {
    BATCHD_API_KEYS: 'bench:bench',
    BATCHD_TICK_MS: '50',
    BATCHD_POLL_MS: '50',
  });
  const auth = { authorization: 'Bearer bench' };
  try {
    const direct = await latencies(`${up.url}/chat/completions`, {});
    const alone = await latencies(`${server.url}/v1/chat/completions`, auth);
    const cpuBefore = cpuSeconds(server.proc.pid!);
    const batch = runJob(server.url, 'bench', input, 'up', 200);
    await new Promise((r) => setTimeout(r, 1000));
    const during = await latencies(`${server.url}/v1/chat/completions`, auth);
    const { ms, job } = await batch;
    if (job.status !== 'SUCCESS') throw new Error(`batch ended ${job.status}`);
    const cpuMs = ((cpuSeconds(server.proc.pid!) - cpuBefore) * 1000) / (BATCH + ONLINE);
    const rss = peakRssMb(server.proc.pid!);
    const row = (label: string, l: number[]) =>
      `| ${label} | ${fmt(pct(l, 50), 2)} | ${fmt(pct(l, 99), 2)} | ${fmt(pct(l, 50) - pct(direct, 50), 2)} | ${fmt(pct(l, 99) - pct(direct, 99), 2)} |`;
    writeReport('overhead', 'Overhead per request: CPU time and added online latency', [
      `Fake upstream with ${LATENCY_MS} ms latency. ${fmt(ONLINE)} sequential online chat calls per row; the batch has ${fmt(BATCH)} requests on the same model (max_in_flight 32) and ran at ${fmt(BATCH / (ms / 1000))} requests/s.`,
      '',
      '| online calls | p50 ms | p99 ms | added p50 ms | added p99 ms |',
      '|---|---|---|---|---|',
      row('direct to the upstream (baseline)', direct),
      row('through batchd, idle', alone),
      row('through batchd, during the batch', during),
      '',
      `Server CPU time per request while the batch ran (API, runner, store; all requests): **${fmt(cpuMs, 3)} ms**. Server peak RSS ${rss} MB.`,
    ]);
  } finally {
    await server.stop();
  }
} finally {
  await up.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
