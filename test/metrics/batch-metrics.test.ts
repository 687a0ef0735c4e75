import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, download, jsonl, startTestServer, upstreamModels, uploadJsonl, waitForJob, type TestServer } from '../helpers/server.js';
import { scrape } from './scrape.js';

const CHAT = '/v1/chat/completions';
const MODEL = 'up-openai';

describe('GET /metrics counts what a batch job and online calls did', () => {
  let up: FakeUpstream;
  let server: TestServer;
  before(async () => {
    up = await startFakeUpstream({ latencyMs: 1 });
    server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_CHUNK_LINES: '8' } });
  });
  after(async () => {
    await server?.stop();
    await up?.close();
  });

  test('requests, tokens, retries and engine calls match the job: a 503 retried once, two lines refused upstream', async () => {
    // 'flaky' fails once with 503 (retried, then succeeds); 'refused' always gets a 400 (final: the line fails).
    up.setBehaviour({
      latencyMs: 1,
      rules: [
        { marker: 'flaky', fault: { kind: 'status', status: 503 }, times: 1 },
        { marker: 'refused', fault: { kind: 'status', status: 400 } },
      ],
    });
    const lines = chatLines(30, 'm', (i) => (i === 4 ? 'flaky 4' : i === 9 || i === 21 ? `refused ${i}` : `hello number ${i}`));
    const file = await uploadJsonl(server, lines);
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: CHAT, model: MODEL, input_files: [file.id] });
    assert.equal(created.status, 200);
    const job = await waitForJob(server, created.body.id);
    assert.equal(job.status, 'SUCCESS');
    assert.equal(job.succeeded_requests, 28);
    assert.equal(job.failed_requests, 2);
    const errors = jsonl(await download(server, job.error_file));
    assert.deepEqual(
      errors.map((e) => e.error.code),
      ['upstream_rejected', 'upstream_rejected'],
    );

    const m = await scrape(`${server.url}/metrics`);
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
    const batch = { mode: 'batch', model: MODEL, endpoint: CHAT };
    assert.equal(m.sum('batchd_requests_total', { ...batch, outcome: 'success' }), job.succeeded_requests);
    assert.equal(m.sum('batchd_requests_total', { ...batch, outcome: 'failure', code: 'upstream_rejected' }), job.failed_requests);
    assert.equal(m.sum('batchd_requests_total', { mode: 'batch' }), job.total_requests, 'one count per line, not per attempt');
    assert.equal(m.sum('batchd_tokens_total', { model: MODEL, kind: 'prompt' }), job.usage.prompt_tokens);
    assert.equal(m.sum('batchd_tokens_total', { model: MODEL, kind: 'completion' }), job.usage.completion_tokens);
    assert.ok(job.usage.prompt_tokens > 0 && job.usage.completion_tokens > 0);
    assert.equal(m.sum('batchd_retries_total', { model: MODEL, reason: 'upstream_unavailable' }), 1);
    assert.equal(m.sum('batchd_retries_total'), 1);
    // Every attempt is timed: 30 lines, one of them twice.
    const calls = up.calls.filter((c) => c.path.endsWith('/chat/completions')).length;
    assert.equal(calls, 31);
    assert.equal(m.sum('batchd_engine_request_duration_seconds_count', { model: MODEL, endpoint: CHAT }), calls);
    assert.equal(
      m.sum('batchd_engine_request_duration_seconds_bucket', { model: MODEL, endpoint: CHAT, le: '+Inf' }),
      calls,
      'the +Inf bucket holds every observation',
    );
    // The create and upload routes, by pattern and status.
    assert.equal(m.sum('batchd_http_request_duration_seconds_count', { route: '/v1/batch/jobs', method: 'POST', status_code: '200' }), 1);
    assert.equal(m.sum('batchd_http_request_duration_seconds_count', { route: '/v1/files', method: 'POST', status_code: '200' }), 1);
    assert.ok(m.sum('batchd_http_request_duration_seconds_count', { route: '/v1/batch/jobs/:job_id', method: 'GET', status_code: '200' }) >= 1);
    // Today's queue gauges keep their names.
    assert.equal(m.sum('batchd_jobs', { status: 'SUCCESS' }), 1);
    assert.equal(m.sum('batchd_requests_waiting'), 0);
    assert.ok(m.has('batchd_chunks', { state: 'leased' }) && m.has('batchd_workers_active'));
    // And the process's default metrics.
    assert.ok(m.sum('process_resident_memory_bytes') > 0);
    assert.ok(m.has('process_cpu_seconds_total') && m.has('nodejs_eventloop_lag_seconds'));
  });

  test('online calls count under mode="online", streamed ones too, with their tokens', async () => {
    up.setBehaviour({ latencyMs: 1 });
    const before = await scrape(`${server.url}/metrics`);
    const plain = await server.request('POST', CHAT, { model: MODEL, messages: [{ role: 'user', content: 'four words right here' }] });
    assert.equal(plain.status, 200);
    const streamed = await fetch(`${server.url}${CHAT}`, {
      method: 'POST',
      headers: { ...server.auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'stream me' }] }),
    });
    assert.equal(streamed.status, 200);
    const events = await streamed.text();
    const usage = JSON.parse(
      events
        .split('\n')
        .filter((l) => l.startsWith('data: {'))
        .at(-1)!
        .slice(6),
    ).usage;
    const after = await scrape(`${server.url}/metrics`);
    const online = { mode: 'online', model: MODEL, endpoint: CHAT, outcome: 'success' };
    assert.equal(after.sum('batchd_requests_total', online) - before.sum('batchd_requests_total', online), 2);
    assert.equal(after.sum('batchd_requests_total', { mode: 'batch' }), before.sum('batchd_requests_total', { mode: 'batch' }), 'batch counts untouched');
    const prompt = plain.body.usage.prompt_tokens + usage.prompt_tokens;
    assert.equal(
      after.sum('batchd_tokens_total', { model: MODEL, kind: 'prompt' }) - before.sum('batchd_tokens_total', { model: MODEL, kind: 'prompt' }),
      prompt,
    );
    // The streamed reply is hijacked from Fastify, and still timed.
    const route = { route: CHAT, method: 'POST', status_code: '200' };
    assert.equal(after.sum('batchd_http_request_duration_seconds_count', route) - before.sum('batchd_http_request_duration_seconds_count', route), 2);
  });

  test('an online call the model refuses counts as a failure with its code', async () => {
    up.setBehaviour({ latencyMs: 1, rules: [{ marker: 'refused', fault: { kind: 'status', status: 400 } }] });
    const res = await server.request('POST', CHAT, { model: MODEL, messages: [{ role: 'user', content: 'refused online' }] });
    assert.equal(res.status, 400);
    const m = await scrape(`${server.url}/metrics`);
    assert.equal(m.sum('batchd_requests_total', { mode: 'online', model: MODEL, endpoint: CHAT, outcome: 'failure', code: 'upstream_rejected' }), 1);
    assert.equal(m.sum('batchd_http_request_duration_seconds_count', { route: CHAT, method: 'POST', status_code: '400' }), 1);
  });

  test('HTTP series are labelled by route pattern, never by the URL: ids and unknown paths add no series', async () => {
    const id = '0b7e2c1e-5f0e-4c47-9d3c-2b8f4b1f8a11';
    assert.equal((await server.request('GET', `/v1/batch/jobs/${id}`)).status, 404);
    assert.equal((await fetch(`${server.url}/no/such/${id}`)).status, 404);
    const m = await scrape(`${server.url}/metrics`);
    assert.ok(!m.text.includes(id), 'no id in any label');
    assert.equal(m.sum('batchd_http_request_duration_seconds_count', { route: '/v1/batch/jobs/:job_id', method: 'GET', status_code: '404' }), 1);
    assert.equal(m.sum('batchd_http_request_duration_seconds_count', { route: 'unmatched', method: 'GET', status_code: '404' }), 1);
  });
});
