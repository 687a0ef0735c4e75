import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, startTestServer, upstreamModels, waitFor, waitForJob } from '../helpers/server.js';
import { batchShare } from '../../src/engines/batch-share.js';

/** A batch on an upstream of max_in_flight 8: how many of its calls are at the upstream at once, and an online call beside it. */
async function run(up: FakeUpstream, reserve: string) {
  const server = await startTestServer({ models: upstreamModels(up.url, { max_in_flight: 8 }), env: { BATCHD_ONLINE_RESERVE: reserve } });
  try {
    up.reset();
    const job = (await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(200, 'o') })).body;
    await waitFor('the batch to fill its share', async () => (up.stats.inFlight >= batchShare(8, Number(reserve)) ? true : undefined));
    const batchPeak = up.stats.inFlight;
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
});
