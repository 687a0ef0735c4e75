import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { MessageBatch, MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { ManualClock } from '../../../src/clock.js';
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.js';
import { startTestServer, upstreamModels, waitFor, type TestServer } from '../../helpers/server.js';
import { createPgSchema, postgresTestOptions } from '../../helpers/stores.js';

const pgOptions = await postgresTestOptions();

const ask = (model: string, text: string, extra: Record<string, unknown> = {}) => ({
  model,
  max_tokens: 8,
  messages: [{ role: 'user' as const, content: text }],
  ...extra,
});

/** Polls the batch through the SDK until processing has ended. */
const ended = (client: Anthropic, id: string) =>
  waitFor(
    `batch ${id} to end`,
    async () => {
      const b = await client.messages.batches.retrieve(id);
      return b.processing_status === 'ended' ? b : undefined;
    },
    60_000,
  );

/** Every line of the batch's results, read by the SDK from its results_url. */
async function results(client: Anthropic, id: string): Promise<Map<string, MessageBatchIndividualResponse['result']>> {
  const out = new Map<string, MessageBatchIndividualResponse['result']>();
  for await (const line of await client.messages.batches.results(id)) out.set(line.custom_id, line.result);
  return out;
}

const assertBatchShape = (b: MessageBatch) => {
  assert.match(b.id, /^msgbatch_[0-9a-f]{32}$/);
  assert.equal(b.type, 'message_batch');
  assert.ok(!Number.isNaN(Date.parse(b.created_at)) && !Number.isNaN(Date.parse(b.expires_at)));
  assert.equal(Date.parse(b.expires_at) - Date.parse(b.created_at), 24 * 3600_000);
  assert.equal(b.archived_at, null);
};

describe('Anthropic Message Batches through the official SDK, embedded engine', () => {
  let server: TestServer;
  let client: Anthropic;
  before(async () => {
    server = await startTestServer();
    client = new Anthropic({ apiKey: server.keys.a, baseURL: server.url });
  });
  after(() => server.stop());

  test('create, retrieve until ended, results: messages for good requests, an errored result naming an unsupported block', async () => {
    const created = await client.messages.batches.create({
      requests: [
        { custom_id: 'plain', params: ask('mistral-small-latest', 'Hello there') },
        {
          custom_id: 'blocks',
          params: {
            model: 'mistral-small-latest',
            max_tokens: 6,
            system: [{ type: 'text', text: 'You answer briefly.' }],
            stop_sequences: ['\n\n'],
            messages: [
              { role: 'user', content: [{ type: 'text', text: 'Name a colour.' }] },
              { role: 'assistant', content: 'Blue.' },
              { role: 'user', content: 'Another one?' },
            ],
          },
        },
        {
          custom_id: 'image',
          params: {
            model: 'mistral-small-latest',
            max_tokens: 8,
            messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] }],
          },
        },
      ],
    });
    assertBatchShape(created);
    assert.equal(created.processing_status, 'in_progress');
    assert.equal(created.request_counts.processing + created.request_counts.succeeded + created.request_counts.errored, 3);
    assert.equal(created.results_url, null);
    assert.equal(created.ended_at, null);

    const done = await ended(client, created.id);
    assert.deepEqual(done.request_counts, { processing: 0, succeeded: 2, errored: 1, canceled: 0, expired: 0 });
    assert.equal(done.results_url, `${server.url}/v1/messages/batches/${created.id}/results`);
    assert.ok(done.ended_at !== null && Date.parse(done.ended_at) >= Date.parse(done.created_at));

    const lines = await results(client, created.id);
    assert.deepEqual([...lines.keys()], ['plain', 'blocks', 'image']);
    for (const id of ['plain', 'blocks']) {
      const r = lines.get(id)!;
      assert.equal(r.type, 'succeeded', id);
      if (r.type !== 'succeeded') continue;
      const m = r.message;
      assert.match(m.id, /^msg_[0-9a-f]{32}$/);
      assert.equal(m.type, 'message');
      assert.equal(m.role, 'assistant');
      assert.equal(m.model, 'mistral-small-latest');
      assert.equal(m.content[0]!.type, 'text');
      assert.ok(['end_turn', 'max_tokens'].includes(m.stop_reason!), String(m.stop_reason));
      assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0 && m.usage.output_tokens <= 8, JSON.stringify(m.usage));
      assert.equal(m.usage.service_tier, 'batch');
    }
    const image = lines.get('image')!;
    assert.equal(image.type, 'errored');
    if (image.type === 'errored') {
      assert.equal(image.error.type, 'error');
      assert.equal(image.error.error.type, 'invalid_request_error');
      assert.match(image.error.error.message, /params\.messages\.0\.content\.0: content block type 'image' is not supported/);
    }
  });

  test('list pages newest first with after_id (the SDK auto-paginates) and before_id', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await client.messages.batches.create({ requests: [{ custom_id: `p${i}`, params: ask('mistral-small-latest', `x${i}`) }] })).id);
    const page = await client.messages.batches.list({ limit: 2 });
    assert.deepEqual(
      page.data.map((b) => b.id),
      [ids[2], ids[1]],
    );
    assert.equal(page.has_more, true);
    assert.equal(page.first_id, ids[2]);
    assert.equal(page.last_id, ids[1]);
    const all: string[] = [];
    for await (const b of client.messages.batches.list({ limit: 2 })) all.push(b.id);
    assert.deepEqual(all.slice(0, 3), [ids[2], ids[1], ids[0]]);
    assert.equal(all.length, 4, 'the three and the first test’s batch, nothing else');
    const newer = await client.messages.batches.list({ before_id: ids[0], limit: 1 });
    assert.deepEqual(
      newer.data.map((b) => b.id),
      [ids[1]],
    );
    assert.equal(newer.has_more, true);
    for (const id of ids) await ended(client, id);
  });

  test('a batch over the inline cap is refused as a 400 BadRequestError naming the cap', async () => {
    const requests = Array.from({ length: 10_001 }, (_, i) => ({ custom_id: `r${i}`, params: ask('mistral-small-latest', 'x') }));
    await assert.rejects(client.messages.batches.create({ requests }), (e: InstanceType<typeof Anthropic.APIError>) => {
      assert.ok(e instanceof Anthropic.BadRequestError);
      assert.match(e.message, /requests has 10001 items; a message batch here takes at most 10000/);
      return true;
    });
  });

  test('delete an ended batch: then the batch is gone', async () => {
    const b = await client.messages.batches.create({ requests: [{ custom_id: 'd', params: ask('mistral-small-latest', 'bye') }] });
    const done = await ended(client, b.id);
    const deleted = await client.messages.batches.delete(done.id);
    assert.deepEqual(deleted, { id: b.id, type: 'message_batch_deleted' });
    await assert.rejects(client.messages.batches.retrieve(b.id), (e: InstanceType<typeof Anthropic.NotFoundError>) => {
      assert.ok(e instanceof Anthropic.NotFoundError);
      assert.equal((e.error as { error: { type: string } }).error.type, 'not_found_error');
      return true;
    });
  });

  test('visibility: the Mistral view reads an Anthropic batch; the Anthropic view reads neither Mistral jobs nor another workspace', async () => {
    const b = await client.messages.batches.create({ requests: [{ custom_id: 'v', params: ask('mistral-small-latest', 'seen') }] });
    const uuid = b.id.slice('msgbatch_'.length).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    const mistral = await server.request('GET', `/v1/batch/jobs/${uuid}`);
    assert.equal(mistral.status, 200);
    assert.equal(mistral.body.total_requests, 1);
    const job = await server.request('POST', '/v1/batch/jobs', {
      model: 'mistral-small-latest',
      endpoint: '/v1/chat/completions',
      requests: [{ custom_id: 'm', body: { max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] } }],
    });
    assert.equal(job.status, 200);
    await assert.rejects(client.messages.batches.retrieve(`msgbatch_${String(job.body.id).replace(/-/g, '')}`), Anthropic.NotFoundError);
    const other = new Anthropic({ apiKey: server.keys.b, baseURL: server.url });
    await assert.rejects(other.messages.batches.retrieve(b.id), Anthropic.NotFoundError);
    assert.equal((await other.messages.batches.list()).data.length, 0);
    await ended(client, b.id);
  });

  test('messages.create and messages.stream answer on the embedded engine', async () => {
    const m = await client.messages.create(ask('mistral-small-latest', 'Say something', { system: 'Be brief.', temperature: 0.5, top_p: 0.9 }));
    assert.match(m.id, /^msg_/);
    assert.equal(m.type, 'message');
    assert.equal(m.content[0]!.type, 'text');
    assert.ok(['end_turn', 'max_tokens'].includes(m.stop_reason!));
    assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);

    const stream = client.messages.stream(ask('mistral-small-latest', 'Stream something'));
    const events: string[] = [];
    let streamed = '';
    stream.on('streamEvent', (e) => events.push(e.type));
    stream.on('text', (t) => (streamed += t));
    const final = await stream.finalMessage();
    assert.equal(events[0], 'message_start');
    assert.deepEqual(events.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    assert.equal(events[1], 'content_block_start');
    assert.ok(events.includes('content_block_delta'));
    const first = final.content[0]!;
    assert.equal(first.type, 'text');
    assert.equal(first.type === 'text' ? first.text : '', streamed);
    assert.ok(final.usage.output_tokens > 0 && final.usage.input_tokens > 0);
    assert.ok(['end_turn', 'max_tokens'].includes(final.stop_reason!));
  });

  test('a last assistant turn is a prefill: the answer continues it without repeating it, streamed or not', async () => {
    const params = {
      model: 'mistral-small-latest',
      max_tokens: 5,
      messages: [
        { role: 'user' as const, content: 'hi' },
        { role: 'assistant' as const, content: 'PREFILL here' },
      ],
    };
    const whole = await client.messages.create(params);
    const text = whole.content[0]!.type === 'text' ? whole.content[0]!.text : '';
    assert.ok(text.length > 0 && !text.includes('PREFILL'), text);
    const stream = client.messages.stream(params);
    let streamed = '';
    stream.on('text', (t) => (streamed += t));
    await stream.finalMessage();
    assert.ok(streamed.length > 0 && !streamed.includes('PREFILL'), streamed);
  });

  test('output_config.format json_schema: the answer is JSON of that schema', async () => {
    const m = await client.messages.create({
      model: 'mistral-small-latest',
      max_tokens: 48,
      output_config: {
        format: { type: 'json_schema', schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false } },
      },
      messages: [{ role: 'user', content: 'A number, as JSON' }],
    });
    const block = m.content[0]!;
    assert.equal(block.type, 'text');
    const parsed = JSON.parse(block.type === 'text' ? block.text : '') as { n: unknown };
    assert.ok(Number.isInteger(parsed.n), JSON.stringify(parsed));
  });

  test('tool use round trip: a forced tool call comes back as tool_use, its tool_result is answered', async () => {
    const tools = [
      {
        name: 'get_weather',
        description: 'Weather of a city',
        input_schema: { type: 'object' as const, properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] },
      },
    ];
    const first = await client.messages.create({
      model: 'mistral-small-latest',
      max_tokens: 64,
      tools,
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    assert.equal(first.stop_reason, 'tool_use');
    const call = first.content.find((b) => b.type === 'tool_use');
    assert.ok(call && call.type === 'tool_use', JSON.stringify(first.content));
    assert.equal(call.name, 'get_weather');
    assert.match(call.id, /^toolu_/);
    assert.equal(typeof (call.input as { city?: unknown }).city, 'string');
    const second = await client.messages.create({
      model: 'mistral-small-latest',
      max_tokens: 8,
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: first.content.map((b) =>
            b.type === 'tool_use'
              ? { type: 'tool_use' as const, id: b.id, name: b.name, input: b.input }
              : { type: 'text' as const, text: b.type === 'text' ? b.text : '' },
          ),
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '18°C, sunny' }] },
      ],
    });
    assert.equal(second.type, 'message');
    assert.ok(second.content.length >= 1);
    assert.ok(['end_turn', 'max_tokens', 'tool_use'].includes(second.stop_reason!));
  });
});

describe('Anthropic Message Batches through the official SDK, fake upstream', () => {
  let up: FakeUpstream;
  before(async () => {
    up = await startFakeUpstream({ latencyMs: 1 });
  });
  after(() => up.close());

  for (const store of ['sqlite', 'postgres'] as const) {
    test(`${store}: a batch's messages carry the upstream's answers to the translated requests`, store === 'postgres' ? pgOptions : {}, async () => {
      const pg = store === 'postgres' ? await createPgSchema() : null;
      const server = await startTestServer({ models: upstreamModels(up.url), database: pg?.url });
      try {
        const client = new Anthropic({ apiKey: server.keys.a, baseURL: server.url });
        const b = await client.messages.batches.create({
          requests: [
            { custom_id: 'a', params: ask('up-openai', 'first question', { system: 'sys', stop_sequences: ['END'], temperature: 0.2 }) },
            { custom_id: 'b', params: ask('up-openai', 'second question') },
            {
              custom_id: 'tools',
              params: {
                model: 'up-openai',
                max_tokens: 8,
                tools: [{ name: 'lookup', description: 'Finds things', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
                tool_choice: { type: 'any', disable_parallel_tool_use: true },
                messages: [
                  { role: 'user', content: 'third question' },
                  {
                    role: 'assistant',
                    content: [
                      { type: 'text', text: 'Let me look.' },
                      { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'x' } },
                    ],
                  },
                  {
                    role: 'user',
                    content: [
                      { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'found' }] },
                      { type: 'text', text: 'and then?' },
                    ],
                  },
                ],
              },
            },
          ],
        });
        await ended(client, b.id);
        const lines = await results(client, b.id);
        const a = lines.get('a')!;
        assert.equal(a.type, 'succeeded');
        if (a.type === 'succeeded') {
          assert.deepEqual(a.message.content, [{ type: 'text', text: 'reply: first question', citations: null }]);
          assert.equal(a.message.stop_reason, 'end_turn');
          assert.equal(a.message.model, 'up-openai');
        }
        const sent = up.calls.find((c) => c.text === 'first question')!.body;
        assert.deepEqual(sent.messages, [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'first question' },
        ]);
        assert.deepEqual(sent.stop, ['END']);
        assert.equal(sent.temperature, 0.2);
        assert.equal(sent.max_tokens, 8);
        assert.equal(lines.get('tools')!.type, 'succeeded');
        const withTools = up.calls.find((c) => c.text === 'and then?')!.body;
        assert.deepEqual(withTools.messages, [
          { role: 'user', content: 'third question' },
          {
            role: 'assistant',
            content: 'Let me look.',
            tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: 'found' },
          { role: 'user', content: 'and then?' },
        ]);
        assert.deepEqual(withTools.tools, [
          {
            type: 'function',
            function: { name: 'lookup', description: 'Finds things', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
          },
        ]);
        assert.equal(withTools.tool_choice, 'required');
        assert.equal(withTools.parallel_tool_calls, false);
      } finally {
        await server.stop();
        await pg?.drop();
      }
    });
  }

  test('messages.create and streaming answer with the upstream text, word by word', async () => {
    const server = await startTestServer({ models: upstreamModels(up.url), worker: false });
    try {
      const client = new Anthropic({ apiKey: server.keys.a, baseURL: server.url });
      const m = await client.messages.create(ask('up-mistral', 'tell me more'));
      assert.deepEqual(m.content, [{ type: 'text', text: 'reply: tell me more', citations: null }]);
      const deltas: string[] = [];
      const stream = client.messages.stream(ask('up-openai', 'stream these words'));
      stream.on('text', (t) => deltas.push(t));
      const final = await stream.finalMessage();
      assert.equal(deltas.join(''), 'reply: stream these words');
      assert.ok(deltas.length > 1, 'streamed in pieces');
      const first = final.content[0]!;
      assert.equal(first.type === 'text' ? first.text : null, 'reply: stream these words');
    } finally {
      await server.stop();
    }
  });

  test("an upstream's tool calls come back as tool_use blocks, whole and streamed", async () => {
    const server = await startTestServer({ models: upstreamModels(up.url), worker: false });
    up.setBehaviour({
      latencyMs: 1,
      rules: [
        {
          marker: 'CALL',
          respond: () => ({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            created: 0,
            model: 'served',
            choices: [
              {
                index: 0,
                message: {
                  role: 'assistant',
                  content: null,
                  tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'lookup', arguments: '{"q":"y"}' } }],
                },
                finish_reason: 'tool_calls',
              },
            ],
            usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
          }),
        },
      ],
    });
    try {
      const client = new Anthropic({ apiKey: server.keys.a, baseURL: server.url });
      const params = {
        ...ask('up-openai', 'CALL it'),
        tools: [{ name: 'lookup', input_schema: { type: 'object' as const, properties: { q: { type: 'string' } } } }],
      };
      const expected = [{ type: 'tool_use', id: 'toolu_call_9', name: 'lookup', input: { q: 'y' }, caller: { type: 'direct' } }];
      const m = await client.messages.create(params);
      assert.deepEqual(m.content, expected);
      assert.equal(m.stop_reason, 'tool_use');
      assert.deepEqual(m.usage.input_tokens, 3);
      const events: string[] = [];
      const stream = client.messages.stream(params);
      stream.on('streamEvent', (e) => events.push(e.type === 'content_block_delta' ? `${e.type}:${e.delta.type}` : e.type));
      const final = await stream.finalMessage();
      assert.deepEqual(events, [
        'message_start',
        'content_block_start',
        'content_block_delta:input_json_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);
      assert.deepEqual(final.content, expected);
      assert.equal(final.stop_reason, 'tool_use');
    } finally {
      up.setBehaviour({ latencyMs: 1 });
      await server.stop();
    }
  });

  for (const store of ['sqlite', 'postgres'] as const) {
    test(
      `${store}: delete is refused in progress; cancel: in-flight and waiting requests end canceled; expiry: a batch past its 24 hours ends expired`,
      store === 'postgres' ? pgOptions : {},
      async () => {
        const clock = new ManualClock();
        const pg = store === 'postgres' ? await createPgSchema() : null;
        const server = await startTestServer({ models: upstreamModels(up.url), clock, database: pg?.url });
        up.setBehaviour({ latencyMs: 1, rules: [{ marker: 'HANG', fault: { kind: 'hang' } }] });
        try {
          const client = new Anthropic({ apiKey: server.keys.a, baseURL: server.url });
          const hung = (n: number, prefix: string) =>
            Array.from({ length: n }, (_, i) => ({ custom_id: `${prefix}${i}`, params: ask('up-openai', `HANG ${prefix}${i}`) }));
          const c = await client.messages.batches.create({ requests: [{ custom_id: 'quick', params: ask('up-openai', 'quick one') }, ...hung(3, 'c')] });
          await waitFor('the quick request to succeed', async () =>
            (await client.messages.batches.retrieve(c.id)).request_counts.succeeded === 1 ? true : undefined,
          );
          await assert.rejects(client.messages.batches.delete(c.id), (err: InstanceType<typeof Anthropic.APIError>) => {
            assert.equal(err.status, 409);
            assert.equal((err.error as { error: { type: string } }).error.type, 'invalid_request_error');
            assert.match(err.message, /still in_progress; only ended batches can be deleted/);
            return true;
          });
          const canceling = await client.messages.batches.cancel(c.id);
          assert.ok(['canceling', 'ended'].includes(canceling.processing_status));
          assert.ok(canceling.cancel_initiated_at !== null);
          const cancelled = await ended(client, c.id);
          assert.deepEqual(cancelled.request_counts, { processing: 0, succeeded: 1, errored: 0, canceled: 3, expired: 0 });
          const cLines = await results(client, c.id);
          assert.equal(cLines.get('quick')!.type, 'succeeded');
          for (let i = 0; i < 3; i++) assert.deepEqual(cLines.get(`c${i}`), { type: 'canceled' });

          clock.advance(1000); // a later creation time than c's, for the list's order below
          const e = await client.messages.batches.create({ requests: hung(2, `${store}e`) });
          await waitFor('the requests to reach the upstream', async () =>
            up.calls.filter((x) => x.text.startsWith(`HANG ${store}e`)).length === 2 ? true : undefined,
          );
          clock.advance(24 * 3600_000 + 1000);
          const expired = await ended(client, e.id);
          assert.deepEqual(expired.request_counts, { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 2 });
          assert.deepEqual([...(await results(client, e.id)).values()], [{ type: 'expired' }, { type: 'expired' }]);
          // Newest first across both: the expired batch, then the cancelled one.
          assert.deepEqual(
            (await client.messages.batches.list()).data.map((x) => x.id),
            [e.id, c.id],
          );
        } finally {
          up.setBehaviour({ latencyMs: 1 });
          await server.stop();
          await pg?.drop();
        }
      },
    );
  }
});
