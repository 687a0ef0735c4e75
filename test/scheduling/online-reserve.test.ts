import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, startTestServer, upstreamModels, waitFor, waitForJob } from '../helpers/server.js';
import { batchShare, reserveForOnline } from '../../src/engines/batch-share.js';
import type { Engine } from '../../src/engines/engine.js';

/** A batch on an upstream of max_in_flight 8: how many of its calls are at the upstream at once, and an online call beside it. */
async function run(up: FakeUpstream, reserve: string, onlineFirst = true) {
  const server = await startTestServer({ models: upstreamModels(up.url, { max_in_flight: 8 }), env: { BATCHD_ONLINE_RESERVE: reserve } });
  try {
    up.reset();
    // The reserve is held while online calls have been seen lately (ONLINE_HOLD_MS).
    if (onlineFirst)
      assert.equal((await server.request('POST', '/v1/chat/completions', { model: 'up-openai', messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    const job = (await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(200, 'o') })).body;
    // Held reserve: the batch fills its share; no reserve, or none held: every connection.
    const expected = onlineFirst ? batchShare(8, Number(reserve)) : 8;
    await waitFor(`the batch to hold ${expected} calls at once`, async () => (up.stats.inFlight >= expected ? true : undefined));
    // The most it ever held before the online call below.
    const batchPeak = up.stats.maxInFlight;
    // An online call while the batch runs goes straight to a free connection.
    const online = await server.request('POST', '/v1/chat/completions', { model: 'up-openai', messages: [{ role: 'user', content: 'now' }] });
    assert.equal(online.status, 200);
    const done = await waitForJob(server, job.id);
    assert.equal(done.status, 'SUCCESS');
    return { batchPeak, peak: up.stats.maxInFlight };
  } finally {
    await server.stop();
  }
}

describe('online reservation on upstream engines', () => {
  let up: FakeUpstream;
  before(async () => {
    up = await startFakeUpstream({ latencyMs: 20, maxConcurrent: 16 });
  });
  after(() => up.close());

  test('batch lines take at most max_in_flight × (1 − BATCHD_ONLINE_RESERVE) calls; without a reserve they take all', async () => {
    assert.equal(batchShare(8, 0.25), 6);
    assert.equal(batchShare(8, 0), 8);
    assert.equal(batchShare(1, 0.5), 1, 'a batch always gets one');
    const reserved = await run(up, '0.25');
    assert.equal(reserved.batchPeak, 6);
    // The batch's 6 plus the online call: never the 8 a batch alone could hold.
    assert.ok(reserved.peak <= 7, `peak ${reserved.peak}`);
    const open = await run(up, '0');
    assert.equal(open.batchPeak, 8);
  });

  test('a reserve nobody uses is not held: a batch with no online call lately takes every connection', async () => {
    const alone = await run(up, '0.25', false);
    assert.equal(alone.batchPeak, 8);
  });

  test('an online call takes the reserve back: batch calls above the share are not replaced as they finish', async () => {
    let t = 0;
    let inFlight = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const engine = reserveForOnline(
      {
        maxInFlight: 8,
        online: true,
        execute: async (req: { priority: string }) => {
          inFlight++;
          if (req.priority === 'batch') peak = Math.max(peak, inFlight);
          if (req.priority === 'batch') await new Promise<void>((r) => release.push(r));
          inFlight--;
          return { body: {}, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
        },
        close: async () => undefined,
      } as unknown as Engine,
      0.25,
      1000,
      () => t,
    );
    const batch = (n: number) => Array.from({ length: n }, () => engine.execute({ priority: 'batch' } as never, new AbortController().signal));
    const calls = batch(12);
    await new Promise((r) => setImmediate(r));
    assert.equal(peak, 8, 'alone, the batch holds all 8');
    await engine.execute({ priority: 'online' } as never, new AbortController().signal);
    // Two batch calls finish: with the reserve held again, neither is replaced (6 would be over the share of 6 still).
    release.splice(0, 2).forEach((r) => r());
    await new Promise((r) => setImmediate(r));
    assert.equal(inFlight, 6, 'two finished, none replaced: 6 = the share');
    release.splice(0, 1).forEach((r) => r());
    await new Promise((r) => setImmediate(r));
    assert.equal(inFlight, 6, 'one finished, one waiting call took its place: held at the share');
    // The hold lapses: the batch may take every connection again.
    t = 2000;
    release.splice(0, 1).forEach((r) => r());
    await new Promise((r) => setImmediate(r));
    assert.equal(inFlight, 8);
    while (release.length) {
      release.splice(0).forEach((r) => r());
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(calls);
  });
});
