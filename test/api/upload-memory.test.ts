import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startChildTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { uploadFile } from '../helpers/multipart-upload.js';

const LINES = 1_000_000;
const PEAK_RSS_LIMIT_MB = 256;

/** The process's peak resident set size (VmHWM) so far, in MB. */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kb, `no VmHWM in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

/** Writes `n` chat request lines (~120 bytes each) to `file` as a stream: neither side ever holds the whole file. */
async function writeBatchFile(file: string, n: number) {
  async function* lines() {
    for (let i = 0; i < n; i += 10_000) {
      let piece = '';
      for (let j = i; j < Math.min(n, i + 10_000); j++) {
        piece += `{"custom_id":"request-${j}","body":{"max_tokens":32,"messages":[{"role":"user","content":"question number ${j} about cheese"}]}}\n`;
      }
      yield piece;
    }
  }
  await pipeline(Readable.from(lines()), fs.createWriteStream(file));
}

test(`uploading a ${LINES.toLocaleString('en')}-line batch file keeps the server under ${PEAK_RSS_LIMIT_MB} MB of peak RSS`, async (t) => {
  const dir = tempDir(t, 'batchd-mem-');
  const file = path.join(dir, 'big.jsonl');
  await writeBatchFile(file, LINES);
  const size = fs.statSync(file).size;
  assert.ok(size > 100 * LINES && size < 150 * LINES, `${size} bytes`);
  // The compiled build, as deployed: under tsx the sources alone hold ~50 MB more before any upload.
  const server = await startChildTestServer({ args: ['--no-worker'], fromSource: false });
  t.after(() => server.stop());
  const res = await uploadFile(server.url, server.keys.a!, file);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.num_lines, LINES);
  assert.equal(res.body.bytes, size);
  assert.equal(res.body.sample_type, 'batch_request');
  const rss = peakRssMb(server.pid);
  assert.ok(rss < PEAK_RSS_LIMIT_MB, `server peak RSS was ${rss.toFixed(0)} MB`);
  const build = fs.existsSync(new URL('../../dist/cli/main.js', import.meta.url)) ? 'compiled build' : 'sources (no build found)';
  t.diagnostic(`server (${build}) peak RSS ${rss.toFixed(0)} MB for ${(size / 1e6).toFixed(0)} MB uploaded`);
});
