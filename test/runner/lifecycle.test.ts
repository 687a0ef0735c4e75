import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { ManualClock } from '../../src/clock.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, download, jsonl, startTestServer, upstreamModels, waitFor, waitForJob } from '../helpers/server.js';

describe('job lifecycle', () => {
  let up: FakeUpstream;
  before(async () => {
    up = await startFakeUpstream();
  });
  after(() => up.close());

  test('a job past timeout_hours ends TIMEOUT_EXCEEDED: finished results kept, the rest batch_expired', async () => {
    const clock = new ManualClock();
    const server = await startTestServer({ clock, models: upstreamModels(up.url), env: { BATCHD_UPSTREAM_TIMEOUT_MS: '60000' } });
    try {
      up.setFault((c) => (Number(c.text.split(' ')[1]) >= 5 ? { kind: 'hang' } : null));
      const created = await server.request('POST', '/v1/batch/jobs', {
        endpoint: '/v1/chat/completions',
        model: 'up-openai',
        timeout_hours: 1,
        requests: chatLines(20, 't'),
      });
      await waitFor('the first lines to finish and the rest to hang', async () => {
        const { body } = await server.request('GET', `/v1/batch/jobs/${created.body.id}`);
        return body.succeeded_requests === 5 && up.stats.inFlight > 0 ? body : undefined;
      });
      clock.advance(3600_000 + 1);
      const job = await waitForJob(server, created.body.id);
      assert.equal(job.status, 'TIMEOUT_EXCEEDED');
      assert.deepEqual([job.succeeded_requests, job.failed_requests, job.completed_requests], [5, 15, 20]);
      const errors = jsonl(await download(server, job.error_file));
      assert.equal(errors.length, 15);
      assert.ok(errors.every((l) => l.error.code === 'batch_expired'));
      assert.ok(job.completed_at >= job.started_at);
      // The hung calls were aborted.
      await waitFor('hung calls to be aborted', async () => (up.stats.inFlight === 0 ? true : undefined));
    } finally {
      up.setFault(null);
      await server.stop();
    }
  });

  test('a job completes when its last chunk is handed in, not at the scheduler tick', async () => {
    // A ten-minute tick: admission comes from the create's nudge, completion from the last chunk's.
    const server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_TICK_MS: '600000', BATCHD_CHUNK_LINES: '4' } });
    try {
      for (let round = 0; round < 2; round++) {
        const created = await server.request('POST', '/v1/batch/jobs', {
          endpoint: '/v1/chat/completions',
          model: 'up-openai',
          requests: chatLines(10, `n${round}`),
        });
        const job = await waitForJob(server, created.body.id);
        assert.equal(job.status, 'SUCCESS');
        assert.equal(job.succeeded_requests, 10);
      }
    } finally {
      await server.stop();
    }
  });

  test('a retry is never scheduled past the job deadline', async () => {
    const server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_RETRY_MAX_ATTEMPTS: '8' } });
    try {
      up.setFault(() => ({ kind: 'status', status: 429, retryAfter: 7200 }));
      const before = up.calls.length;
      const created = await server.request('POST', '/v1/batch/jobs', {
        endpoint: '/v1/chat/completions',
        model: 'up-openai',
        timeout_hours: 1,
        requests: chatLines(3, 'd'),
      });
      const job = await waitForJob(server, created.body.id);
      assert.equal(job.status, 'FAILED');
      assert.equal(up.calls.length - before, 3, 'one attempt each: waiting 2 h would pass the 1 h deadline');
      assert.match(job.outputs[0].error.message, /gave up after 1 attempt/);
      assert.equal(job.outputs[0].response.status_code, 429);
    } finally {
      up.setFault(null);
      await server.stop();
    }
  });

  test('a job over the workspace pending cap waits in QUEUED and starts when capacity frees', async () => {
    const server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_MAX_PENDING_REQUESTS: '10' } });
    try {
      up.setLatency(300);
      const first = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(6, 'p1') });
      await waitForJob(server, first.body.id, ['RUNNING']);
      const second = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(6, 'p2') });
      // 6 pending + 6 > 10: the second job must wait.
      const queued = await server.request('GET', `/v1/batch/jobs/${second.body.id}`);
      assert.equal(queued.body.status, 'QUEUED');
      const other = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(6, 'pb') }, 'b');
      assert.equal((await waitForJob(server, other.body.id, ['RUNNING', 'SUCCESS'], 'b')).status !== 'QUEUED', true, 'another workspace is not held back');
      const one = await waitForJob(server, first.body.id);
      const two = await waitForJob(server, second.body.id);
      assert.equal(one.status, 'SUCCESS');
      assert.equal(two.status, 'SUCCESS');
      assert.ok(two.started_at >= one.started_at);
      const tooBig = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(11, 'big') });
      assert.equal(tooBig.status, 422);
      assert.equal(tooBig.body.code, 'too_many_requests');
    } finally {
      up.setLatency(0);
      await server.stop();
    }
  });

  test('a server restarted mid-job resumes it and every line ends exactly once', async () => {
    up.setLatency(15);
    const env = { BATCHD_CHUNK_LINES: '10' };
    const first = await startTestServer({ models: upstreamModels(up.url), env, keepData: true });
    const created = await first.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(300, 'rs') });
    await waitFor('some progress before the restart', async () => {
      const { body } = await first.request('GET', `/v1/batch/jobs/${created.body.id}`);
      return body.completed_requests >= 40 ? body : undefined;
    });
    await first.stop();
    const second = await startTestServer({ models: upstreamModels(up.url), env, dataDir: first.dataDir });
    try {
      const job = await waitForJob(second, created.body.id);
      assert.equal(job.status, 'SUCCESS');
      assert.equal(job.succeeded_requests, 300);
      const lines = jsonl(await download(second, job.output_file));
      const ids = lines.map((l) => l.custom_id);
      assert.equal(new Set(ids).size, 300);
      assert.equal(ids.length, 300);
    } finally {
      up.setLatency(0);
      await second.stop();
    }
  });

  test("the docs' end-to-end flow through the official SDK: upload, create, poll with progress, download both files", async () => {
    const server = await startTestServer({ models: upstreamModels(up.url) });
    try {
      up.setFault((c) => (c.text.endsWith('7') ? { kind: 'status', status: 400 } : null));
      up.setLatency(5);
      const client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
      const lines = chatLines(50, 'sdk');
      const uploaded = await client.files.upload({
        file: { fileName: 'batch.jsonl', content: new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join('\n')) },
        purpose: 'batch',
      });
      assert.equal(uploaded.numLines, 50);
      let job = await client.batch.jobs.create({
        inputFiles: [uploaded.id],
        model: 'up-openai',
        endpoint: '/v1/chat/completions',
        metadata: { job_type: 'testing' },
      });
      const progress: number[] = [];
      while (job.status === 'QUEUED' || job.status === 'RUNNING') {
        await new Promise((r) => setTimeout(r, 20));
        job = await client.batch.jobs.get({ jobId: job.id });
        progress.push(job.succeededRequests + job.failedRequests);
      }
      assert.equal(job.status, 'SUCCESS');
      assert.deepEqual(
        progress,
        [...progress].sort((a, b) => a - b),
        'progress never goes backwards',
      );
      assert.equal(job.totalRequests, 50);
      assert.equal(job.failedRequests, 5);
      const text = async (fileId: string) => new Response(await client.files.download({ fileId })).text();
      const output = jsonl(await text(job.outputFile!));
      const errors = jsonl(await text(job.errorFile!));
      assert.equal(output.length, job.succeededRequests);
      assert.equal(errors.length, job.failedRequests);
      assert.deepEqual([...output, ...errors].map((l) => l.custom_id).sort(), lines.map((l) => l.custom_id).sort());
    } finally {
      up.setFault(null);
      up.setLatency(0);
      await server.stop();
    }
  });
});
