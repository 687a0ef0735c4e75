/**
 * Ingest: upload + streaming validation of a large batch file through batchd's HTTP
 * API, against a baseline of `readline + JSON.parse` over the same file in this
 * process. Reports throughput ratio (target ≥ 0.5) and the server's peak RSS (< 256 MB).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { startChildServer } from '../test/helpers/child-process.js';
import { uploadFile } from '../test/helpers/multipart-upload.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const LINES = quick ? 100_000 : 1_000_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-ingest-'));
const file = path.join(dir, 'input.jsonl');

function generate(target = file, count = LINES) {
  const fd = fs.openSync(target, 'w');
  const pad = 'lorem ipsum dolor sit amet '.repeat(14);
  let buf = '';
  for (let i = 0; i < count; i++) {
    buf += `${JSON.stringify({ custom_id: `req-${i}`, body: { max_tokens: 64, messages: [{ role: 'user', content: `${i} ${pad}` }] } })}\n`;
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = '';
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
}

async function baseline(): Promise<number> {
  const start = performance.now();
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    if (line) JSON.parse(line);
    n++;
  }
  if (n !== LINES) throw new Error(`baseline read ${n} lines`);
  return performance.now() - start;
}

async function upload(url: string, source = file, lines = LINES): Promise<number> {
  const start = performance.now();
  const res = await uploadFile(url, 'bench', source);
  if (res.status !== 200 || res.body.num_lines !== lines) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
  return performance.now() - start;
}

generate();
const bytes = fs.statSync(file).size;
const server = await startChildServer(['serve', '--port', '0', '--data-dir', path.join(dir, 'data')], { BATCHD_API_KEYS: 'bench:bench' });
try {
  // Warm both paths once (JIT, module loading) so the figures are steady-state throughput.
  const warm = path.join(dir, 'warm.jsonl');
  generate(warm, 2000);
  await upload(server.url, warm, 2000);
  await baseline();
  const base = await baseline();
  const ours = await upload(server.url);
  const rss = peakRssMb(server.proc.pid!);
  const mbps = (ms: number) => bytes / 1024 / 1024 / (ms / 1000);
  writeReport('ingest', 'Ingest: upload + validate vs readline + JSON.parse', [
    `File: ${fmt(LINES)} lines, ${fmt(bytes / 1024 / 1024, 1)} MB.`,
    '',
    '| path | time | MB/s | lines/s |',
    '|---|---|---|---|',
    `| baseline: readline + JSON.parse (in-process) | ${fmt(base / 1000, 2)} s | ${fmt(mbps(base), 1)} | ${fmt(LINES / (base / 1000))} |`,
    `| batchd: HTTP multipart upload, validate, store | ${fmt(ours / 1000, 2)} s | ${fmt(mbps(ours), 1)} | ${fmt(LINES / (ours / 1000))} |`,
    '',
    `**Ratio (batchd / baseline throughput): ${fmt(base / ours, 2)}** (target ≥ 0.5).`,
    `Server peak RSS: ${rss} MB (target < 256 MB).`,
  ]);
} finally {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
