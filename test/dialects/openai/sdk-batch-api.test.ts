import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ManualClock } from '../../../src/clock.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { createPgSchema, STORES, storeTestOptions } from '../../helpers/stores.js';
import { openAiChatLines, openAiClient, openAiLine, uploadBatchFile } from './helpers.js';

const isApiError = (status: number, code: string, param?: string) => (e: unknown) =>
  e instanceof OpenAI.APIError && e.status === status && e.code === code && (param === undefined || e.param === param);

/** The Batch API's contract through the official SDK, API only (no worker: batches stay where the API puts them), on each store. */
for (const store of STORES)
  describe(`OpenAI Batch API contract through the official SDK (${store})`, await storeTestOptions(store), () => {
    let server: TestServer;
    let schema: Awaited<ReturnType<typeof createPgSchema>> | null = null;
    let clock: ManualClock;
    let client: OpenAI;
    const batchOf = async (n: number, prefix: string) => {
      const file = await uploadBatchFile(client, openAiChatLines(n, 'mistral-small-latest', prefix));
      return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    };
    before(async () => {
      clock = new ManualClock();
      schema = store === 'postgres' ? await createPgSchema() : null;
      server = await startTestServer({ clock, worker: false, database: schema?.url });
      client = openAiClient(server);
    });
    after(async () => {
      await server?.stop();
      await schema?.drop();
    });

    test('a new batch waits as validating with its counts known and no timestamps it has not reached', async () => {
      const batch = await batchOf(2, 'w');
      assert.equal(batch.status, 'validating');
      assert.deepEqual(batch.request_counts, { total: 2, completed: 0, failed: 0 });
      for (const k of ['in_progress_at', 'finalizing_at', 'completed_at', 'failed_at', 'expired_at', 'cancelling_at', 'cancelled_at'] as const)
        assert.equal(batch[k], null, k);
      assert.equal(batch.output_file_id, null);
      assert.equal(batch.error_file_id, null);
      assert.deepEqual(batch.usage, {
        input_tokens: 0,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 0,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 0,
      });
    });

    test('list pages newest first by cursor (after, limit, has_more), and auto-pagination walks every page', async () => {
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        clock.advance(1000);
        made.push((await batchOf(1, `p${i}-`)).id);
      }
      const newest = [...made].reverse();
      const first = await client.batches.list({ limit: 2 });
      assert.deepEqual(
        first.data.map((b) => b.id),
        newest.slice(0, 2),
      );
      assert.equal(first.has_more, true);
      const second = await client.batches.list({ limit: 2, after: newest[1] });
      assert.deepEqual(
        second.data.map((b) => b.id),
        newest.slice(2, 4),
      );
      const all: string[] = [];
      for await (const b of client.batches.list({ limit: 2 })) all.push(b.id);
      assert.deepEqual(all.slice(0, 5), newest);
      assert.equal(new Set(all).size, all.length, 'no batch twice');
      const raw = await server.request('GET', '/v1/batches?limit=2');
      assert.equal(raw.body.object, 'list');
      assert.equal(raw.body.first_id, newest[0]);
      assert.equal(raw.body.last_id, newest[1]);
    });

    test('cancel moves a batch to cancelling, with cancelling_at; a second cancel returns it unchanged', async () => {
      const batch = await batchOf(1, 'c');
      const cancelling = await client.batches.cancel(batch.id);
      assert.equal(cancelling.status, 'cancelling');
      assert.equal(typeof cancelling.cancelling_at, 'number');
      const again = await client.batches.cancel(batch.id);
      assert.equal(again.status, 'cancelling');
      assert.equal(again.cancelling_at, cancelling.cancelling_at);
    });

    test('a file that breaks OpenAI’s line form makes a failed batch with line-numbered errors.data', async () => {
      const file = await uploadBatchFile(client, [
        openAiLine('a', '/v1/chat/completions', { model: 'mistral-small-latest', messages: [] }),
        openAiLine('b', '/v1/embeddings', { model: 'mistral-small-latest', input: 'x' }),
        openAiLine('c', '/v1/chat/completions', { model: 'open-mistral-nemo', messages: [] }),
        { custom_id: 'd', method: 'GET', url: '/v1/chat/completions', body: { model: 'mistral-small-latest', messages: [] } },
        { custom_id: 'e', url: '/v1/chat/completions', body: { messages: [] } },
      ]);
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      assert.equal(batch.status, 'failed');
      assert.equal(typeof batch.failed_at, 'number');
      assert.equal(batch.in_progress_at, null);
      assert.deepEqual(batch.request_counts, { total: 0, completed: 0, failed: 0 });
      assert.equal(batch.errors?.object, 'list');
      assert.deepEqual(
        batch.errors?.data?.map((e) => [e.line, e.code, e.param]),
        [
          [2, 'url_mismatch', 'url'],
          [3, 'model_mismatch', 'body.model'],
          [4, 'invalid_method', 'method'],
          [5, 'missing_required_parameter', 'method'],
          [5, 'missing_required_parameter', 'body.model'],
        ],
      );
      assert.match(batch.errors!.data![0]!.message!, /\/v1\/embeddings/);
      // It stays failed, and is listed like any other batch.
      assert.equal((await client.batches.retrieve(batch.id)).status, 'failed');
      const native = await server.request('GET', `/v1/batch/jobs/${batch.id.slice(6).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}`);
      assert.equal(native.body.status, 'FAILED');
    });

    test('invalid lines uploaded through the SDK are kept, and fail the batch at validation with their line numbers (as OpenAI does)', async () => {
      const lines = [
        JSON.stringify(openAiLine('a', '/v1/chat/completions', { model: 'mistral-small-latest', messages: [] })),
        '{"custom_id": "b", "method": "POST",',
        JSON.stringify(openAiLine('a', '/v1/chat/completions', { model: 'mistral-small-latest', messages: [] })),
        '[1, 2]',
      ];
      const file = await uploadBatchFile(client, lines);
      assert.equal(file.status, 'processed');
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      assert.equal(batch.status, 'failed');
      assert.deepEqual(
        batch.errors?.data?.map((e) => [e.line, e.code, e.param]),
        [
          [2, 'invalid_json_line', null],
          [3, 'duplicate_custom_id', 'custom_id'],
          [4, 'invalid_json_line', null],
        ],
      );
      assert.match(batch.errors!.data![1]!.message!, /line 1/);
      // The same bytes from Mistral's SDK (or any other client) are refused at upload, in Mistral's shape, as before.
      const form = new FormData();
      form.append('file', new Blob([lines.join('\n') + '\n']), 'bad.jsonl');
      form.append('purpose', 'batch');
      const res = await fetch(`${server.url}/v1/files`, {
        method: 'POST',
        headers: { ...server.auth(), 'user-agent': 'speakeasy-sdk/typescript 2.7.0 2.884.13 1.0.0 @mistralai/mistralai' },
        body: form,
      });
      const refusal = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 400);
      assert.equal(refusal.object, 'error');
      assert.equal(refusal.code, 'invalid_batch_file');
      assert.match(String(refusal.message), /line 2/);
      // A file with no requests at all is refused from the OpenAI SDK too, in OpenAI's shape.
      await assert.rejects(uploadBatchFile(client, ['', '']), isApiError(400, 'empty_file', 'file'));
    });

    test('a model the server does not serve fails the batch at validation', async () => {
      const file = await uploadBatchFile(client, [
        openAiLine('a', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      ]);
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      assert.equal(batch.status, 'failed');
      assert.deepEqual(
        batch.errors?.data?.map((e) => [e.code, e.param]),
        [['model_not_supported', 'body.model']],
      );
      assert.match(batch.errors!.data![0]!.message!, /gpt-4o-mini/);
    });

    test('refusals arrive as the SDK’s typed errors with OpenAI’s code and param', async () => {
      const file = await uploadBatchFile(client, openAiChatLines(1, 'mistral-small-latest', 'x'));
      await assert.rejects(
        client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '48h' as '24h' }),
        isApiError(400, 'invalid_completion_window', 'completion_window'),
      );
      await assert.rejects(
        client.batches.create({ input_file_id: file.id, endpoint: '/v1/images/generations' as '/v1/responses', completion_window: '24h' }),
        isApiError(400, 'batch_endpoint_not_supported', 'endpoint'),
      );
      await assert.rejects(
        client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }),
        isApiError(404, 'file_not_found', 'input_file_id'),
      );
      await assert.rejects(client.batches.retrieve('batch_nope'), isApiError(404, 'batch_job_not_found'));
      await assert.rejects(client.batches.cancel('batch_0123456789abcdef0123456789abcdef'), isApiError(404, 'batch_job_not_found'));
      await assert.rejects(new OpenAI({ apiKey: 'wrong', baseURL: `${server.url}/v1`, maxRetries: 0 }).batches.list(), OpenAI.AuthenticationError);
    });

    test('files: OpenAI’s cursor list (after, limit, order) beside Mistral’s pages', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        clock.advance(1000);
        ids.push((await uploadBatchFile(client, openAiChatLines(1, 'mistral-small-latest', `f${i}-`), `f${i}.jsonl`)).id);
      }
      const page = await client.files.list({ limit: 2 });
      assert.deepEqual(
        page.data.map((f) => f.id),
        [ids[2], ids[1]],
      );
      assert.equal(page.has_more, true);
      const next = await client.files.list({ limit: 2, after: ids[1] });
      assert.equal(next.data[0]!.id, ids[0]);
      const asc = await client.files.list({ limit: 1, order: 'asc', purpose: 'batch' });
      assert.equal(asc.data.length, 1);
      assert.equal(asc.data[0]!.status, 'processed');
      const all: string[] = [];
      for await (const f of client.files.list({ limit: 2 })) all.push(f.id);
      assert.ok(ids.every((id) => all.includes(id)));
      assert.equal(new Set(all).size, all.length, 'no file twice');
      // Mistral's paging is unchanged, and says too whether there is more.
      const mistral = await server.request('GET', '/v1/files?page=0&page_size=1');
      assert.equal(mistral.body.data.length, 1);
      assert.equal(mistral.body.has_more, true);
      assert.equal(typeof mistral.body.total, 'number');
    });
  });
