import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { chatLines, jsonl, startTestServer, uploadJsonl, waitForJob, type TestServer } from '../../helpers/server.js';
import { openAiChatLines, openAiClient, openAiLine, resultLines, uploadBatchFile, waitForBatch } from './helpers.js';

/** OpenAI's Batch API through the official `openai` SDK, on the embedded default engine (real llama.cpp inference). */
describe('OpenAI Batch API through the official SDK, on the embedded engine', () => {
  let server: TestServer;
  let client: OpenAI;
  before(async () => {
    server = await startTestServer();
    client = openAiClient(server);
  });
  after(() => server.stop());

  test('files.create → batches.create → retrieve until completed → files.content: one OpenAI line per request, in order', async () => {
    const lines = [
      ...openAiChatLines(3, 'mistral-small-latest', 'ok', { seed: 7 }),
      // logprobs cannot be produced: the line fails on its own with a 400 naming the field, the rest run.
      openAiLine('lp', '/v1/chat/completions', { model: 'mistral-small-latest', logprobs: true, messages: [{ role: 'user', content: 'hi' }] }),
    ];
    const file = await uploadBatchFile(client, lines);
    assert.equal(file.object, 'file');
    assert.equal(file.purpose, 'batch');
    assert.equal(file.status, 'processed');
    assert.equal(typeof file.bytes, 'number');

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { run: 'nightly' },
    });
    assert.match(created.id, /^batch_[0-9a-f]{32}$/);
    assert.equal(created.object, 'batch');
    assert.equal(created.endpoint, '/v1/chat/completions');
    assert.equal(created.input_file_id, file.id);
    assert.equal(created.completion_window, '24h');
    assert.equal(created.model, 'mistral-small-latest');
    assert.ok(['validating', 'in_progress', 'completed'].includes(created.status), created.status);
    assert.deepEqual(created.metadata, { run: 'nightly' });
    assert.equal(created.request_counts?.total, 4);
    assert.equal(created.expires_at! - created.created_at, 24 * 3600);

    const done = await waitForBatch(client, created.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 4, completed: 3, failed: 1 });
    assert.ok(done.in_progress_at! >= done.created_at);
    assert.ok(done.completed_at! >= done.in_progress_at!);
    assert.equal(done.finalizing_at, done.completed_at);
    assert.equal(done.failed_at, null);
    assert.equal(done.errors, null);
    assert.ok(done.usage!.input_tokens > 0 && done.usage!.output_tokens > 0);
    assert.equal(done.usage!.total_tokens, done.usage!.input_tokens + done.usage!.output_tokens);

    const output = await resultLines(client, done.output_file_id);
    assert.deepEqual(
      output.map((l) => l.custom_id),
      ['ok0', 'ok1', 'ok2'],
    );
    for (const l of output) {
      assert.match(l.id, /^batch_req_[0-9a-f]{32}$/);
      assert.equal(l.error, null);
      assert.equal(l.response.status_code, 200);
      assert.match(l.response.request_id, /^req_[0-9a-f]{32}$/);
      const body = l.response.body;
      assert.equal(body.object, 'chat.completion');
      assert.match(body.id, /^chatcmpl-/);
      assert.equal(body.model, 'mistral-small-latest');
      assert.equal(body.choices[0].message.role, 'assistant');
      assert.equal(typeof body.choices[0].message.content, 'string');
      assert.equal(body.choices[0].message.refusal, null);
      assert.ok(['stop', 'length'].includes(body.choices[0].finish_reason));
      // max_completion_tokens became the engine's max_tokens.
      assert.ok(body.usage.completion_tokens <= 8, `completion_tokens ${body.usage.completion_tokens}`);
      assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
    }
    const errors = await resultLines(client, done.error_file_id);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.custom_id, 'lp');
    assert.equal(errors[0]!.response.status_code, 400);
    assert.equal(errors[0]!.error, null);
    assert.equal(errors[0]!.response.body.error.type, 'invalid_request_error');
    assert.match(errors[0]!.response.body.error.message, /logprobs/);
  });

  test('the same seed gives the same answer (seed → the engine seed)', async () => {
    const line = (id: string) =>
      openAiLine(id, '/v1/chat/completions', {
        model: 'mistral-small-latest',
        seed: 42,
        temperature: 1,
        max_tokens: 12,
        messages: [{ role: 'user', content: 'tell' }],
      });
    const file = await uploadBatchFile(client, [line('a'), line('b')]);
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForBatch(client, batch.id);
    const [a, b] = await resultLines(client, done.output_file_id);
    assert.equal(a!.response.body.choices[0].message.content, b!.response.body.choices[0].message.content);
  });

  test('/v1/completions batches run as FIM and answer text_completion', async () => {
    const file = await uploadBatchFile(client, [
      openAiLine('f0', '/v1/completions', { model: 'codestral-latest', prompt: 'def add(a, b):', suffix: '\nprint(add(1, 2))', max_tokens: 6 }),
    ]);
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/completions', completion_window: '24h' });
    assert.equal(batch.endpoint, '/v1/completions');
    const done = await waitForBatch(client, batch.id);
    assert.equal(done.status, 'completed');
    const [line] = await resultLines(client, done.output_file_id);
    const body = line!.response.body;
    assert.equal(body.object, 'text_completion');
    assert.match(body.id, /^cmpl-/);
    assert.equal(typeof body.choices[0].text, 'string');
    assert.equal(body.choices[0].logprobs, null);
    assert.ok(body.usage.completion_tokens <= 6);
  });

  test('one store, two views: the Mistral API reads an OpenAI batch; OpenAI’s view never shows a Mistral job', async () => {
    const file = await uploadBatchFile(client, openAiChatLines(1, 'mistral-small-latest', 'v'));
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const uuid = batch.id.slice('batch_'.length).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    const native = await waitForJob(server, uuid);
    assert.equal(native.status, 'SUCCESS');
    assert.equal(native.model, 'mistral-small-latest');
    assert.equal(native.total_requests, 1);

    const mistralFile = await uploadJsonl(server, chatLines(1, 'm'));
    const mistralJob = await server.request('POST', '/v1/batch/jobs', {
      input_files: [mistralFile.id],
      model: 'mistral-small-latest',
      endpoint: '/v1/chat/completions',
    });
    const hidden = `batch_${(mistralJob.body.id as string).replace(/-/g, '')}`;
    await assert.rejects(client.batches.retrieve(hidden), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'batch_job_not_found');
    const listed: string[] = [];
    for await (const b of client.batches.list({ limit: 100 })) listed.push(b.id);
    assert.ok(listed.includes(batch.id));
    assert.ok(!listed.includes(hidden));
    // Another workspace sees nothing of it.
    await assert.rejects(openAiClient(server, 'b').batches.retrieve(batch.id), OpenAI.NotFoundError);
    await waitForJob(server, mistralJob.body.id);
  });

  test('a file kept with invalid lines (the OpenAI SDK’s upload) run as a Mistral job: each invalid line fails on its own, none is lost', async () => {
    const file = await uploadBatchFile(client, [
      JSON.stringify(openAiLine('k0', '/v1/chat/completions', { model: 'mistral-small-latest', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })),
      '{"custom_id": "broken"',
      JSON.stringify(openAiLine('k2', '/v1/chat/completions', { model: 'mistral-small-latest', max_tokens: 4, messages: [{ role: 'user', content: 'yo' }] })),
    ]);
    assert.equal(file.bytes > 0, true);
    const job = await server.request('POST', '/v1/batch/jobs', { input_files: [file.id], model: 'mistral-small-latest', endpoint: '/v1/chat/completions' });
    assert.equal(job.status, 200, JSON.stringify(job.body));
    assert.equal(job.body.total_requests, 3);
    const done = await waitForJob(server, job.body.id);
    assert.equal(done.succeeded_requests, 2);
    assert.equal(done.failed_requests, 1);
    const errors = jsonl(await (await fetch(`${server.url}/v1/files/${done.error_file}/content`, { headers: server.auth() })).text());
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.custom_id, null);
    assert.match(errors[0]!.error.message, /Invalid request line/);
  });
});
