/**
 * Coordination cost: terminal records per second when the engine answers instantly
 * (the built-in `echo` engine), so the figure is batchd's own ledger work: claiming
 * chunks, group-committing records, counters. SQLite with one process; PostgreSQL
 * with one API node and 1, 2 and 4 worker processes. Targets: SQLite ≥ 20k/s, PostgreSQL ≥ 10k/s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startChildServer, startChildWorker, stopProcess } from '../test/helpers/child-process.js';
import { runJob, writeChatFile } from './lib/jobs.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';
import { createPgSchema, postgresUnavailable } from '../test/helpers/stores.js';

const LINES = quick ? 20_000 : 100_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-coord-'));
const input = path.join(dir, 'input.jsonl');
const config = path.join(dir, 'models.json');
writeChatFile(input, LINES);
fs.writeFileSync(config, JSON.stringify({ models: [{ id: 'bench-echo', engine: 'echo', max_in_flight: 256 }] }));
const env = { BATCHD_API_KEYS: 'bench:bench', BATCHD_CONFIG: config, BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50' };

interface Row {
  label: string;
  perSec: number;
  rss: number;
}
const rows: Row[] = [];

async function measure(label: string, args: string[], workers: number, extraEnv: NodeJS.ProcessEnv = {}) {
  const server = await startChildServer(['serve', '--port', '0', ...args], { ...env, ...extraEnv });
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++)
      procs.push(
        await startChildWorker(
          args.filter((a) => a !== '--no-worker'),
          { ...env, ...extraEnv },
        ),
      );
    const { ms, job } = await runJob(server.url, 'bench', input, 'bench-echo');
    if (job.status !== 'SUCCESS' || job.succeeded_requests !== LINES) throw new Error(`${label}: job ended ${JSON.stringify(job)}`);
    const rss = Math.max(peakRssMb(server.proc.pid!), ...procs.map((p) => peakRssMb(p.pid!)));
    rows.push({ label, perSec: LINES / (ms / 1000), rss });
    console.log(`${label}: ${fmt(LINES / (ms / 1000))} records/s`);
  } finally {
    await Promise.all(procs.map(stopProcess));
    await server.stop();
  }
}

try {
  await measure('SQLite, 1 process (API + worker)', ['--data-dir', path.join(dir, 'sqlite')], 0);
  const pgDown = await postgresUnavailable();
  if (pgDown) {
    console.log(`PostgreSQL runs skipped: ${pgDown}`);
  } else {
    for (const workers of [1, 2, 4]) {
      const schema = await createPgSchema();
      try {
        await measure(
          `PostgreSQL, API node + ${workers} worker${workers > 1 ? 's' : ''}`,
          ['--no-worker', '--data-dir', path.join(dir, `pg${workers}`), '--database', schema.url],
          workers,
        );
      } finally {
        await schema.drop();
      }
    }
  }
  const base = rows[0]!.perSec;
  writeReport('coordination', 'Coordination cost: terminal records per second, instant engine', [
    `${fmt(LINES)} chat requests per run, engine \`echo\` (answers at once), chunks of 500 lines, max_in_flight 256. Time from job creation to SUCCESS, polled every 50 ms.`,
    '',
    '| store and processes | records/s | vs SQLite | peak RSS (largest process) |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${fmt(r.perSec)} | ${fmt(r.perSec / base, 2)} | ${r.rss} MB |`),
    '',
    'Targets: SQLite ≥ 20,000/s, PostgreSQL ≥ 10,000/s. On this 2-core machine the worker processes compete with the API node and PostgreSQL for the same two cores.',
  ]);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
