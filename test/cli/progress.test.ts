import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobObject } from '../../src/cli/api-types.js';
import { jobProgress, RateMeter } from '../../src/cli/progress.js';

const job = (status: string, done: number, failed = 0): JobObject =>
  ({
    id: '1b2c3d4e-0000-4000-8000-000000000000',
    status,
    total_requests: 100,
    completed_requests: done,
    succeeded_requests: done - failed,
    failed_requests: failed,
  }) as JobObject;

/** The lines written to stderr while `fn` runs. */
async function stderrOf(fn: () => Promise<void>): Promise<{ line: string; at: number }[]> {
  const lines: { line: string; at: number }[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    for (const l of String(chunk).split('\n').filter(Boolean)) lines.push({ line: l, at: Date.now() });
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return lines;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('plain progress: one line per change, at most one a second (the latest state), the final state at once', async () => {
  const lines = await stderrOf(async () => {
    const p = jobProgress(false);
    p.update(job('RUNNING', 0));
    p.update(job('RUNNING', 0)); // no change: no line
    for (let d = 1; d <= 5; d++) p.update(job('RUNNING', d * 10));
    await sleep(1300);
    p.update(job('SUCCESS', 100, 2));
    p.stop();
  });
  assert.deepEqual(
    lines.map((l) => l.line.replace(/ \| .*$/, '')),
    [
      'job 1b2c3d4e RUNNING 0/100 (0%) succeeded 0 failed 0',
      'job 1b2c3d4e RUNNING 50/100 (50%) succeeded 50 failed 0',
      'job 1b2c3d4e SUCCESS 100/100 (100%) succeeded 98 failed 2',
    ],
  );
  assert.ok(lines[1]!.at - lines[0]!.at >= 990, 'the second line waited for the second to pass');
  assert.match(lines[2]!.line, /\| ETA 0s$/);
});

test('requests/s and ETA follow the last ten seconds', () => {
  const m = new RateMeter();
  assert.equal(m.rate(), null);
  m.add(0, 0);
  m.add(100, 10_000); // 10/s
  assert.equal(m.rate(), 10);
  assert.equal(m.eta(200), 10);
  m.add(400, 20_000); // the last ten seconds: 30/s
  assert.equal(m.rate(), 30);
  assert.equal(m.eta(700), 10);
});
