import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as Mistral1 } from 'mistral1';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, download, jsonl, jsonlBytes, startTestServer, upstreamModels, waitFor, waitForJob, type TestServer } from '../helpers/server.js';
import { makeStore, STORES, storeTestOptions, type TestStore } from '../helpers/stores.js';

/** A slow upstream (every call 25 ms, 4 at once) behind batchd on `store`, chunks of 20 lines. */
function harness(storeName: (typeof STORES)[number]) {
  const h = { up: null as unknown as FakeUpstream, server: null as unknown as TestServer, store: null as TestStore | null, sdk: null as unknown as Mistral };
  before(async () => {
    h.up = await startFakeUpstream({ latencyMs: 25, maxConcurrent: 4 });
    h.store = storeName === 'postgres' ? await makeStore('postgres') : null;
    h.server = await startTestServer({
      models: upstreamModels(h.up.url, { max_in_flight: 4 }),
      database: h.store?.url,
      env: { BATCHD_CHUNK_LINES: '20', BATCHD_LEASE_MS: '5000' },
    });
    h.sdk = new Mistral({ apiKey: h.server.keys.a, serverURL: h.server.url });
  });
  after(async () => {
    await h.server?.stop();
    await h.up?.close();
    await h.store?.cleanup();
  });
  return h;
}

/** A batch file of `n` chat lines whose messages say `<prefix> <i>`, so the upstream's calls tell the jobs apart. */
const upload = async (sdk: Mistral, n: number, prefix: string) =>
  (await sdk.files.upload({ file: { fileName: `${prefix}.jsonl`, content: jsonlBytes(chatLines(n, prefix, (i) => `${prefix} ${i}`)) }, purpose: 'batch' })).id;

for (const store of STORES) {
  describe(`scheduling on ${store}`, await storeTestOptions(store), () => {
    const h = harness(store);

    test('a high-priority job created after a large low-priority one finishes first (priority through the Mistral SDK metadata)', async () => {
      const low = await h.sdk.batch.jobs.create({
        inputFiles: [await upload(h.sdk, 400, 'low')],
        model: 'up-openai',
        endpoint: '/v1/chat/completions',
        metadata: { priority: 'low' },
      });
      await waitFor('the low job to make progress', async () => {
        const j = await h.sdk.batch.jobs.get({ jobId: low.id });
        return j.completedRequests > 20 ? j : undefined;
      });
      const highFile = await upload(h.sdk, 80, 'high');
      const high = await h.sdk.batch.jobs.create({
        inputFiles: [highFile],
        model: 'up-openai',
        endpoint: '/v1/chat/completions',
        metadata: { priority: 'high' },
      });
      const done = await waitForJob(h.server, high.id);
      assert.equal(done.status, 'SUCCESS');
      assert.equal(done.priority, 'high');
      const lowNow = (await h.server.request('GET', `/v1/batch/jobs/${low.id}`)).body;
      assert.equal(lowNow.status, 'RUNNING', 'the low job is still running when the high one has finished');
      // Strict priority within the workspace: while the high job's lines went out, the low job only
      // finished what it was sending (its chunk's remaining 20 lines at most, plus the window of a
      // chunk ending) and started its next chunk as the high job's last lines were dispatched; it did
      // not take a share alongside, which would be about as many calls as the high job's 80.
      const highCalls = h.up.calls.filter((c) => c.text.startsWith('high '));
      const [first, last] = [highCalls[0]!.n, highCalls.at(-1)!.n];
      const lowDuring = h.up.calls.filter((c) => c.n > first && c.n < last && c.text.startsWith('low ')).length;
      assert.equal(highCalls.length, 80);
      assert.ok(lowDuring <= 45, `${lowDuring} low-priority calls went out while the high job's 80 did`);
      assert.equal(lowNow.priority, 'low');
      const lowDone = await waitForJob(h.server, low.id);
      assert.equal(lowDone.status, 'SUCCESS');
      assert.ok(lowDone.completed_at >= done.completed_at);
    });

    test('pause stops claims while in-flight lines finish; resume finishes the job with every line exactly once', async () => {
      // The first test's low job has ended: every call from here on is this job's.
      const callsBefore = h.up.stats.total;
      const job = await h.sdk.batch.jobs.create({ inputFiles: [await upload(h.sdk, 240, 'p')], model: 'up-openai', endpoint: '/v1/chat/completions' });
      await waitFor('some progress', async () => ((await h.sdk.batch.jobs.get({ jobId: job.id })).completedRequests >= 30 ? true : undefined));
      const paused = await h.server.request('POST', `/v1/batch/jobs/${job.id}/pause`);
      assert.equal(paused.status, 200);
      assert.equal(paused.body.paused, true);
      assert.equal(typeof paused.body.paused_at, 'number');
      assert.equal(paused.body.status, 'RUNNING', "pausing is not a status: Mistral's seven stay the only ones");
      // In-flight calls finish, then nothing more is sent.
      await waitFor('the upstream to go quiet', async () => (h.up.stats.inFlight === 0 ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
      const calls = h.up.stats.total;
      const held = (await h.server.request('GET', `/v1/batch/jobs/${job.id}`)).body;
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(h.up.stats.total, calls, 'no call while paused');
      const still = (await h.server.request('GET', `/v1/batch/jobs/${job.id}`)).body;
      assert.equal(still.completed_requests, held.completed_requests);
      assert.ok(still.completed_requests < 240);
      assert.equal(still.paused, true);
      // Both SDK generations read the paused job (their status enums know RUNNING; extra fields are dropped).
      assert.equal((await h.sdk.batch.jobs.get({ jobId: job.id })).status, 'RUNNING');
      const v1 = new Mistral1({ apiKey: h.server.keys.a, serverURL: h.server.url });
      assert.equal((await v1.batch.jobs.get({ jobId: job.id })).status, 'RUNNING');
      // Pausing again is a no-op; resuming lets it finish.
      assert.equal((await h.server.request('POST', `/v1/batch/jobs/${job.id}/pause`)).status, 200);
      const resumed = await h.server.request('POST', `/v1/batch/jobs/${job.id}/resume`);
      assert.equal(resumed.status, 200);
      assert.equal(resumed.body.paused, false);
      const done = await waitForJob(h.server, job.id);
      assert.equal(done.status, 'SUCCESS');
      const ids = jsonl(await download(h.server, done.output_file)).map((l) => l.custom_id);
      assert.equal(ids.length, 240);
      assert.equal(new Set(ids).size, 240, 'every line exactly once');
      assert.equal(h.up.stats.total - callsBefore, 240, 'every line sent exactly once');
      // An ended job can be neither paused nor resumed.
      const late = await h.server.request('POST', `/v1/batch/jobs/${job.id}/pause`);
      assert.equal(late.status, 409);
      assert.equal(late.body.code, 'job_already_finished');
    });

    test('a job that cannot finish by its deadline at its rate shows at_risk; paused, its deadline still runs out', async () => {
      const job = await h.sdk.batch.jobs.create({ inputFiles: [await upload(h.sdk, 400, 'r')], model: 'up-openai', endpoint: '/v1/chat/completions' });
      const running = await waitFor('some progress', async () => {
        const j = (await h.server.request('GET', `/v1/batch/jobs/${job.id}`)).body;
        return j.completed_requests >= 40 ? j : undefined;
      });
      assert.equal(running.at_risk, false, 'a day is plenty');
      assert.ok(running.estimated_completion_at >= running.started_at);
      assert.ok(running.estimated_completion_at < running.deadline_at);
      await h.server.request('POST', `/v1/batch/jobs/${job.id}/pause`);
      // Bring the deadline to 1.5 s from now: the remaining lines take longer than that at this rate.
      const deadline = Date.now() + 1500;
      await h.server.ctx.db.kysely.updateTable('batch_jobs').set({ deadline_at: deadline }).where('id', '=', job.id).execute();
      const risky = (await h.server.request('GET', `/v1/batch/jobs/${job.id}`)).body;
      assert.equal(risky.at_risk, true);
      assert.ok(risky.estimated_completion_at > risky.deadline_at);
      assert.equal(risky.paused, true);
      const expired = await waitForJob(h.server, job.id);
      assert.equal(expired.status, 'TIMEOUT_EXCEEDED');
      assert.equal(expired.paused, false, 'an ended job is not paused');
      assert.equal(expired.at_risk, false);
    });
  });
}
