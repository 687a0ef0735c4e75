import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startChildServer } from '../helpers/child-process.js';
import { uploadFile } from '../helpers/multipart-upload.js';

const LINES = 1_000_000;

function peakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

test('uploading a 1,000,000-line batch file keeps the server under 256 MB of RSS', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-mem-'));
  const file = path.join(dir, 'big.jsonl');
  // Written in pieces: the test process does not hold the file either.
  const fd = fs.openSync(file, 'w');
  let buf = '';
  for (let i = 0; i < LINES; i++) {
    buf += `{"custom_id":"request-${i}","body":{"max_tokens":32,"messages":[{"role":"user","content":"question number ${i} about cheese"}]}}\n`;
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = '';
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
  const server = await startChildServer(['serve', '--port', '0', '--no-worker', '--data-dir', path.join(dir, 'data')], { BATCHD_API_KEYS: 'a:key-a' });
  try {
    const res = await uploadFile(server.url, 'key-a', file);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.num_lines, LINES);
    assert.equal(res.body.bytes, fs.statSync(file).size);
    const rss = peakRssMb(server.proc.pid!);
    assert.ok(rss < 256, `server peak RSS was ${rss.toFixed(0)} MB`);
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
