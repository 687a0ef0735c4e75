import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, download, jsonl, startTestServer, upstreamModels, uploadJsonl, waitFor, waitForJob, type TestServer } from '../helpers/server.js';

describe('batch execution against an upstream', () => {
  let up: FakeUpstream;
  let server: TestServer;
  before(async () => {
    up = await startFakeUpstream();
    server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_RETRY_MAX_ATTEMPTS: '3', BATCHD_CHUNK_LINES: '10' } });
  });
  after(async () => {
    await server.stop();
    await up.close();
  });
  beforeEach(() => {
    up.setFault(null);
    up.setLatency(0);
  });

  const bodies: Record<string, Record<string, unknown>> = {
    '/v1/chat/completions': { messages: [{ role: 'user', content: 'hi there' }] },
    '/v1/embeddings': { input: ['one', 'two'] },
    '/v1/fim/completions': { prompt: 'def add(a, b):', suffix: 'return c' },
    '/v1/moderations': { input: ['kill the lights', 'hello'] },
    '/v1/chat/moderations': { input: [{ role: 'user', content: 'hello' }] },
  };
  for (const model of ['up-openai', 'up-mistral']) {
    for (const [endpoint, body] of Object.entries(bodies)) {
      test(`${endpoint} runs through ${model} and returns the endpoint's response per line`, async () => {
        const created = await server.request('POST', '/v1/batch/jobs', {
          endpoint,
          model,
          requests: [
            { custom_id: 'x', body },
            { custom_id: 'y', body },
          ],
        });
        assert.equal(created.status, 200);
        const job = await waitForJob(server, created.body.id);
        assert.equal(job.status, 'SUCCESS');
        assert.equal(job.succeeded_requests, 2);
        assert.equal(job.outputs.length, 2);
        const out = job.outputs[0];
        assert.equal(out.custom_id, 'x');
        assert.match(out.id, new RegExp(`^batch-${job.id.slice(0, 8)}-1-[0-9a-f-]{36}$`));
        assert.equal(out.response.status_code, 200);
        assert.equal(out.error, null);
        const res = out.response.body;
        assert.equal(res.model, model);
        if (endpoint.includes('moderations')) assert.equal(Object.keys(res.results[0].category_scores).length, 9);
        else if (endpoint === '/v1/embeddings') assert.equal(res.data.length, 2);
        else assert.equal(typeof res.choices[0].message.content, 'string');
        assert.ok(job.usage.total_tokens > 0);
      });
    }
  }

  test('retry runs the failed lines as a new job; a deleted input refuses a retry, and a deleted job is purged', async () => {
    up.setFault((c) => (c.text.startsWith('flaky') ? { kind: 'status', status: 400, body: { message: 'not now' } } : null));
    const lines = chatLines(12, 'rt', (i) => (i % 4 === 0 ? `flaky ${i}` : `fine ${i}`));
    const file = await uploadJsonl(server, lines);
    const created = await server.request('POST', '/v1/batch/jobs', {
      endpoint: '/v1/chat/completions',
      model: 'up-openai',
      input_files: [file.id],
      metadata: { run: 'one' },
    });
    const job = await waitForJob(server, created.body.id);
    assert.deepEqual([job.succeeded_requests, job.failed_requests], [9, 3]);

    up.setFault(null);
    const retried = await server.request('POST', `/v1/batch/jobs/${job.id}/retry`);
    assert.equal(retried.status, 200);
    assert.equal(retried.body.total_requests, 3);
    assert.deepEqual(retried.body.metadata, { run: 'one' });
    const second = await waitForJob(server, retried.body.id);
    assert.equal(second.status, 'SUCCESS');
    assert.deepEqual(
      jsonl(await download(server, second.output_file)).map((l) => l.custom_id),
      ['rt0', 'rt4', 'rt8'],
    );

    // The input's bytes are gone once it is deleted and no job runs on it: the first job's failed lines cannot be read again.
    assert.equal((await server.request('DELETE', `/v1/files/${file.id}`)).status, 200);
    const refused = await server.request('POST', `/v1/batch/jobs/${job.id}/retry`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'input_file_deleted');
    // Finished results stay readable after the input is gone.
    assert.equal(jsonl(await download(server, job.output_file)).length, 9);

    // Deleting the retry job hands its records and its hidden input back (by the scheduler's sweep).
    const db = server.ctx.db.kysely;
    const { blob_key } = await db.selectFrom('job_chunks').select('blob_key').where('job_id', '=', second.id).executeTakeFirstOrThrow();
    const { id: hiddenId } = await db.selectFrom('files').select('id').where('blob_key', '=', blob_key).where('hidden', '=', 1).executeTakeFirstOrThrow();
    assert.equal((await server.request('DELETE', `/v1/batch/jobs/${second.id}`)).status, 200);
    await waitFor('retry job purged', async () => {
      const f = await db.selectFrom('files').select('blob_key').where('id', '=', hiddenId).executeTakeFirstOrThrow();
      return f.blob_key === '' ? true : undefined;
    });
    assert.equal((await db.selectFrom('job_results').select('line_no').where('job_id', '=', second.id).execute()).length, 0);
    assert.equal((await db.selectFrom('job_chunks').select('chunk_no').where('job_id', '=', second.id).execute()).length, 0);
    const hidden = await db.selectFrom('files').select(['blob_key', 'deleted_at']).where('id', '=', hiddenId).executeTakeFirstOrThrow();
    assert.equal(hidden.blob_key, '');
    assert.notEqual(hidden.deleted_at, null);
  });

  test('mixed results: failures go to the error file with the upstream status and body, the rest to the output file', async () => {
    up.setFault((c) =>
      c.text.startsWith('bad') ? { kind: 'status', status: 400, body: { object: 'error', message: 'no bad words', type: 'invalid_request_error' } } : null,
    );
    const lines = chatLines(30, 'm', (i) => (i % 3 === 0 ? `bad ${i}` : `good ${i}`));
    const file = await uploadJsonl(server, lines);
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [file.id] });
    const job = await waitForJob(server, created.body.id);
    assert.equal(job.status, 'SUCCESS');
    assert.deepEqual([job.total_requests, job.completed_requests, job.succeeded_requests, job.failed_requests], [30, 30, 20, 10]);
    assert.deepEqual(job.errors, [{ message: 'upstream 400: no bad words', count: 10 }]);
    const output = jsonl(await download(server, job.output_file));
    const errors = jsonl(await download(server, job.error_file));
    assert.equal(output.length, 20);
    assert.equal(errors.length, 10);
    assert.deepEqual(errors[0]!.response, { status_code: 400, body: { object: 'error', message: 'no bad words', type: 'invalid_request_error' } });
    assert.equal(errors[0]!.error.code, 'upstream_rejected');
    // Input order, and every custom_id exactly once across both files.
    const ids = [...output, ...errors].map((l) => l.custom_id).sort();
    assert.deepEqual(ids, lines.map((l) => l.custom_id).sort());
    assert.deepEqual(
      output.map((l) => l.custom_id),
      lines.filter((_, i) => i % 3 !== 0).map((l) => l.custom_id),
    );
    const files = await server.request('GET', `/v1/files/${job.error_file}`);
    assert.equal(files.body.num_lines, 10);
    assert.equal(files.body.sample_type, 'batch_error');
    assert.equal(files.body.source, 'mistral');
  });

  test('a retryable failure is retried with backoff and then succeeds', async () => {
    const seen = new Map<string, number>();
    up.setFault((c) => {
      const n = (seen.get(c.text) ?? 0) + 1;
      seen.set(c.text, n);
      return n <= 2 ? (n === 1 ? { kind: 'status', status: 503, retryAfter: 0 } : { kind: 'reset' }) : null;
    });
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(5, 'rt') });
    const job = await waitForJob(server, created.body.id);
    assert.equal(job.status, 'SUCCESS');
    assert.equal(job.succeeded_requests, 5);
    for (const n of seen.values()) assert.equal(n, 3);
  });

  test('retries stop after the configured attempts and the line fails with the last upstream error', async () => {
    up.setFault(() => ({ kind: 'status', status: 502 }));
    const before = up.calls.length;
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(4, 'ex') });
    const job = await waitForJob(server, created.body.id);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.failed_requests, 4);
    assert.equal(up.calls.length - before, 12, '3 attempts for each of 4 lines');
    const line = job.outputs[0];
    assert.equal(line.response.status_code, 502);
    assert.match(line.error.message, /gave up after 3 attempts/);
  });

  test('an invalid request body fails its line without failing the job', async () => {
    const created = await server.request('POST', '/v1/batch/jobs', {
      endpoint: '/v1/chat/completions',
      model: 'up-openai',
      requests: [
        { custom_id: 'ok', body: { messages: [{ role: 'user', content: 'hi' }] } },
        { custom_id: 'broken', body: { prompt: 'no messages' } },
      ],
    });
    const job = await waitForJob(server, created.body.id);
    assert.equal(job.status, 'SUCCESS');
    assert.equal(job.failed_requests, 1);
    const broken = job.outputs.find((o: { custom_id: string }) => o.custom_id === 'broken');
    assert.equal(broken.response.status_code, 422);
    assert.equal(broken.response.body.param, 'messages');
  });

  test('cancel mid-run aborts in-flight calls, keeps finished results and closes the rest as batch_cancelled', async () => {
    up.setLatency(40);
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(200, 'cx') });
    const id = created.body.id;
    await waitFor('some progress', async () => {
      const { body } = await server.request('GET', `/v1/batch/jobs/${id}`);
      return body.completed_requests >= 10 ? body : undefined;
    });
    const cancel = await fetch(`${server.url}/v1/batch/jobs/${id}/cancel`, { method: 'POST', headers: server.auth() });
    assert.equal(cancel.status, 200);
    assert.equal(((await cancel.json()) as { status: string }).status, 'CANCELLATION_REQUESTED');
    const job = await waitForJob(server, id);
    const callsAtEnd = up.calls.length;
    assert.equal(job.status, 'CANCELLED');
    assert.ok(job.succeeded_requests >= 10 && job.succeeded_requests < 200);
    assert.equal(job.completed_requests, 200);
    assert.equal(job.succeeded_requests + job.failed_requests, 200);
    const errors = jsonl(await download(server, job.error_file));
    assert.equal(errors.length, job.failed_requests);
    assert.ok(errors.every((l) => l.error.code === 'batch_cancelled' && l.response === null));
    // Nothing more reaches the upstream once the job is cancelled.
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(up.calls.length, callsAtEnd);
  });

  test('results are readable while the job runs', async () => {
    up.setLatency(30);
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(120, 'live') });
    const running = await waitFor('partial results', async () => {
      const { body } = await server.request('GET', `/v1/batch/jobs/${created.body.id}`);
      return body.status === 'RUNNING' && body.succeeded_requests >= 5 ? body : undefined;
    });
    const partial = jsonl(await download(server, running.output_file));
    assert.ok(partial.length >= 5 && partial.length < 120, `partial file has ${partial.length} lines`);
    const job = await waitForJob(server, created.body.id);
    assert.equal(jsonl(await download(server, job.output_file)).length, 120);
  });

  test("two workspaces run jobs at once and never see each other's results", async () => {
    up.setLatency(5);
    const a = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(40, 'wa') }, 'a');
    const b = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(40, 'wb') }, 'b');
    const [ja, jb] = await Promise.all([waitForJob(server, a.body.id, undefined, 'a'), waitForJob(server, b.body.id, undefined, 'b')]);
    assert.equal(ja.status, 'SUCCESS');
    assert.equal(jb.status, 'SUCCESS');
    assert.equal((await server.request('GET', `/v1/files/${ja.output_file}`, undefined, 'b')).status, 404);
    assert.equal((await server.request('GET', `/v1/batch/jobs/${ja.id}`, undefined, 'b')).status, 404);
    const listB = await server.request('GET', '/v1/files?sample_type=batch_result', undefined, 'b');
    assert.ok(listB.body.data.every((f: { id: string }) => f.id !== ja.output_file));
  });

  test("one process runs another workspace's job beside a big one, line by line, not after the big job's chunk", async () => {
    const one = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_CHUNK_LINES: '1000' } });
    up.setLatency(20);
    try {
      const big = await uploadJsonl(one, chatLines(3000, 'big'));
      const small = await uploadJsonl(one, chatLines(100, 'small'), 'b');
      const a = await one.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [big.id] });
      await waitFor('the big job under way', async () =>
        (await one.request('GET', `/v1/batch/jobs/${a.body.id}`)).body.completed_requests >= 50 ? true : undefined,
      );
      const aBefore = (await one.request('GET', `/v1/batch/jobs/${a.body.id}`)).body.completed_requests;
      const b = await one.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [small.id] }, 'b');
      await waitForJob(one, b.body.id, undefined, 'b');
      const aAfter = (await one.request('GET', `/v1/batch/jobs/${a.body.id}`)).body.completed_requests;
      // Sharing the model's 8 slots line by line, the big job advances about as much as the small one runs (100 lines);
      // waiting for the big job's current chunk to be sent first would let it advance by most of its 1,000 lines.
      assert.ok(aAfter - aBefore < 400, `the big job advanced ${aAfter - aBefore} lines while the small one ran`);
    } finally {
      up.setLatency(0);
      await one.stop();
    }
  });

  test('GET /metrics reports queue depth and worker activity from the store, without a key', async () => {
    const scrape = async () => {
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const values = new Map<string, number>();
      for (const line of (await res.text()).split('\n'))
        if (line && !line.startsWith('#')) values.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
      return values;
    };
    const before = await scrape();
    up.setLatency(50);
    const file = await uploadJsonl(server, chatLines(200, 'metric'));
    const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', input_files: [file.id] });
    await waitFor('the job under way', async () =>
      (await server.request('GET', `/v1/batch/jobs/${created.body.id}`)).body.completed_requests > 0 ? true : undefined,
    );
    const during = await scrape();
    assert.equal(during.get('batchd_jobs{status="RUNNING"}'), (before.get('batchd_jobs{status="RUNNING"}') ?? 0) + 1);
    assert.ok(during.get('batchd_requests_waiting')! > 0 && during.get('batchd_requests_waiting')! < 200, `waiting ${during.get('batchd_requests_waiting')}`);
    assert.equal(during.get('batchd_workers_active'), 1);
    assert.ok(during.get('batchd_chunks{state="leased"}')! >= 1);
    assert.ok(during.get('process_resident_memory_bytes')! > 0);
    up.setLatency(0);
    await waitForJob(server, created.body.id);
    const after = await scrape();
    assert.equal(after.get('batchd_jobs{status="SUCCESS"}'), (before.get('batchd_jobs{status="SUCCESS"}') ?? 0) + 1);
    assert.equal(after.get('batchd_requests_waiting'), 0);
  });
});
