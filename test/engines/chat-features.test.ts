import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { SDKError } from '@mistralai/mistralai/models/errors';
import { Ajv } from 'ajv';
import { z } from 'zod';
import { startTestServer, waitForJob, type TestServer } from '../helpers/server.js';

const ajv = new Ajv({ strict: false });

const payment = {
  type: 'object',
  required: ['transactionId', 'amount', 'currency'],
  properties: {
    transactionId: { type: 'string', description: 'The transaction id.' },
    amount: { type: 'integer', minimum: 0 },
    currency: { enum: ['EUR', 'USD'] },
    note: { type: ['string', 'null'], maxLength: 20 },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
  },
  additionalProperties: false,
};
const weather = { type: 'object', required: ['city'], properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } } };
const tools = [
  { type: 'function' as const, function: { name: 'retrievePaymentStatus', description: 'Get payment status of a transaction', parameters: payment } },
  { type: 'function' as const, function: { name: 'getWeather', description: 'Forecast for a city', parameters: weather } },
];
const schemaOf: Record<string, object> = { retrievePaymentStatus: payment, getWeather: weather };

/** Tool calls, structured outputs, reasoning and refusals on the embedded default model, through the official SDK. */
describe('chat features on the embedded engine', () => {
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    server = await startTestServer({ env: { BATCHD_LLAMA_SEQUENCES: '4' } });
    client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
  });
  after(() => server.stop());

  const ask = [{ role: 'user' as const, content: 'What is the status of transaction T1001?' }];

  function assertValidCalls(calls: { id?: string; function: { name: string; arguments: unknown } }[] | null | undefined, names: string[]) {
    assert.ok(calls && calls.length >= 1, 'no tool call');
    for (const call of calls) {
      assert.match(call.id ?? '', /^[a-zA-Z0-9]{9}$/);
      assert.ok(names.includes(call.function.name), `called ${call.function.name}`);
      assert.equal(typeof call.function.arguments, 'string');
      const args = JSON.parse(call.function.arguments as string);
      const valid = ajv.validate(schemaOf[call.function.name]!, args);
      assert.ok(valid, `arguments ${call.function.arguments} break the schema: ${ajv.errorsText()}`);
    }
  }

  for (const toolChoice of ['any', 'required'] as const) {
    test(`tool_choice ${toolChoice} yields calls whose arguments satisfy the tool's JSON schema`, async () => {
      for (let seed = 0; seed < 4; seed++) {
        const res = await client.chat.complete({ model: 'mistral-large-latest', messages: ask, tools, toolChoice, randomSeed: seed, temperature: 1 });
        const choice = res.choices[0]!;
        assert.equal(choice.finishReason, 'tool_calls');
        assert.equal(choice.message!.content, '');
        assertValidCalls(choice.message!.toolCalls, ['retrievePaymentStatus', 'getWeather']);
        assert.ok(res.usage.completionTokens! > 0);
      }
    });
  }

  test('a named tool_choice calls exactly that function, within a small max_tokens', async () => {
    const res = await client.chat.complete({
      model: 'mistral-small-latest',
      messages: ask,
      tools,
      toolChoice: { type: 'function', function: { name: 'getWeather' } },
      maxTokens: 100,
    });
    const calls = res.choices[0]!.message!.toolCalls;
    assert.equal(calls?.length, 1);
    assertValidCalls(calls, ['getWeather']);
    assert.ok(res.usage.completionTokens! <= 100, `${res.usage.completionTokens} tokens used, max_tokens was 100`);
  });

  test('auto: a user turn is answered with a call, a tool result with text, and tool results are accepted', async () => {
    const first = await client.chat.complete({ model: 'mistral-large-latest', messages: ask, tools });
    const message = first.choices[0]!.message!;
    assertValidCalls(message.toolCalls, ['retrievePaymentStatus', 'getWeather']);
    const call = message.toolCalls![0]!;
    const second = await client.chat.complete({
      model: 'mistral-large-latest',
      tools,
      maxTokens: 20,
      messages: [
        ...ask,
        { role: 'assistant', content: '', toolCalls: message.toolCalls },
        { role: 'tool', name: call.function.name, toolCallId: call.id, content: '{"status": "Paid"}' },
      ],
    });
    assert.equal(second.choices[0]!.message!.toolCalls ?? null, null);
    assert.ok(typeof second.choices[0]!.message!.content === 'string' && second.choices[0]!.message!.content.length > 0);
    assert.notEqual(second.choices[0]!.finishReason, 'tool_calls');
  });

  test('tool_choice none answers in text', async () => {
    const res = await client.chat.complete({ model: 'mistral-small-latest', messages: ask, tools, toolChoice: 'none', maxTokens: 8 });
    assert.equal(res.choices[0]!.message!.toolCalls ?? null, null);
  });

  test('streaming delivers the tool calls whole in one chunk, in Mistral’s shape', async () => {
    const stream = await client.chat.stream({ model: 'mistral-small-latest', messages: ask, tools, toolChoice: 'any' });
    const withCalls: unknown[] = [];
    let finish: string | null | undefined;
    const ids = new Set<string>();
    for await (const event of stream) {
      ids.add(event.data.id);
      const calls = event.data.choices[0]?.delta.toolCalls;
      if (calls) withCalls.push(calls);
      finish = event.data.choices[0]?.finishReason ?? finish;
    }
    assert.equal(withCalls.length, 1);
    assertValidCalls(withCalls[0] as never, ['retrievePaymentStatus', 'getWeather']);
    assert.equal(finish, 'tool_calls');
    assert.equal(ids.size, 1);
    assert.match([...ids][0]!, /^cmpl-[0-9a-f]{32}$/, 'stream chunk ids have the form of non-stream ids');
  });

  test('a tool schema the grammar cannot follow, or a function not in tools, is a clear 400', async () => {
    const bad = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]+$' } } } } }];
    let res = await server.request('POST', '/v1/chat/completions', { model: 'mistral-small-latest', messages: ask, tools: bad, tool_choice: 'any' });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /tools\.0\.function\.parameters\.properties\.code.*'pattern' is not supported/);
    res = await server.request('POST', '/v1/chat/completions', {
      model: 'mistral-small-latest',
      messages: ask,
      tools,
      tool_choice: { type: 'function', function: { name: 'nope' } },
    });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /'nope', which is not in tools/);
    res = await server.request('POST', '/v1/chat/completions', { model: 'mistral-small-latest', messages: ask, tool_choice: 'any' });
    assert.equal(res.status, 400);
    res = await server.request('POST', '/v1/chat/completions', {
      model: 'mistral-small-latest',
      messages: ask,
      tools: [{ type: 'function', function: { name: 'has space', parameters: {} } }],
    });
    assert.equal(res.status, 422);
  });

  const Explanation = z.object({ explanation: z.string(), output: z.string() });
  const MathDemonstration = z.object({ steps: z.array(Explanation), final_answer: z.string() });

  for (const maxTokens of [undefined, 400, 60]) {
    test(`chat.parse returns JSON matching the schema within max_tokens ${maxTokens ?? '(none)'}, finish_reason stop`, async () => {
      const res = await client.chat.parse({
        model: 'mistral-tiny-latest',
        messages: [{ role: 'user', content: 'How can I solve 8x + 7 = -23' }],
        responseFormat: MathDemonstration,
        maxTokens,
        temperature: 1,
      });
      const choice = res.choices![0]!;
      assert.ok(MathDemonstration.safeParse(choice.message!.parsed).success, `not parsed: ${String(choice.message!.content)}`);
      assert.equal(choice.finishReason, 'stop');
      if (maxTokens) assert.ok(res.usage.completionTokens! <= maxTokens);
    });
  }

  test('parseStream streams JSON that parses to the schema', async () => {
    const stream = await client.chat.parseStream({
      model: 'mistral-small-latest',
      messages: [{ role: 'user', content: 'solve' }],
      responseFormat: MathDemonstration,
    });
    let text = '';
    for await (const event of stream) text += (event.data.choices[0]?.delta.content as string | undefined) ?? '';
    assert.ok(MathDemonstration.safeParse(JSON.parse(text)).success, text);
  });

  test('json_object answers with a JSON object that closes', async () => {
    for (const maxTokens of [undefined, 30]) {
      const res = await client.chat.complete({
        model: 'mistral-small-latest',
        messages: [{ role: 'user', content: 'cheese?' }],
        responseFormat: { type: 'json_object' },
        maxTokens,
        temperature: 1,
      });
      const parsed = JSON.parse(res.choices[0]!.message!.content as string);
      assert.equal(typeof parsed, 'object');
      assert.ok(!Array.isArray(parsed) && parsed !== null);
      assert.equal(res.choices[0]!.finishReason, 'stop');
    }
  });

  test('a response format that cannot fit max_tokens, or uses unsupported keywords, is a 400 (not a 500 or a hang)', async () => {
    const format = (schema: object) => ({ type: 'json_schema', json_schema: { name: 'x', schema } });
    let res = await server.request('POST', '/v1/chat/completions', {
      model: 'mistral-small-latest',
      messages: ask,
      max_tokens: 3,
      response_format: format({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } }),
    });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /only 3 are available/);
    res = await server.request('POST', '/v1/chat/completions', {
      model: 'mistral-small-latest',
      messages: ask,
      response_format: format({ type: 'object', properties: { a: { not: { type: 'string' } } } }),
    });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /'not' is not supported/);
    res = await server.request('POST', '/v1/chat/completions', {
      model: 'mistral-small-latest',
      messages: ask,
      response_format: format({ $ref: '#/$defs/node', $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } } }),
    });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /recursive/);
  });

  test('structured output lines in a batch all parse', async () => {
    const body = {
      max_tokens: 120,
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema: payment } },
    };
    const job = await client.batch.jobs.create({
      endpoint: '/v1/chat/completions',
      model: 'mistral-small-latest',
      requests: Array.from({ length: 6 }, (_, i) => ({ customId: String(i), body })),
    });
    const done = await waitForJob(server, job.id);
    assert.equal(done.succeeded_requests, 6);
    for (const out of done.outputs) assert.ok(ajv.validate(payment, JSON.parse(out.response.body.choices[0].message.content)), ajv.errorsText());
  });

  test('a reasoning model asked to think answers with a thinking chunk, then text; effort none gives a string', async () => {
    const res = await client.chat.complete({
      model: 'mistral-medium-3-5',
      messages: [{ role: 'user', content: 'What is 12 * 14?' }],
      reasoningEffort: 'high',
      temperature: 0.7,
    });
    const content = res.choices[0]!.message!.content;
    assert.ok(Array.isArray(content));
    assert.equal(content[0]!.type, 'thinking');
    assert.equal(content[1]!.type, 'text');
    const plain = await client.chat.complete({
      model: 'mistral-medium-3-5',
      messages: [{ role: 'user', content: 'What is 12 * 14?' }],
      reasoningEffort: 'none',
      maxTokens: 10,
    });
    assert.equal(typeof plain.choices[0]!.message!.content, 'string');
    // The assistant turn, thinking chunks and all, is accepted in the next turn.
    const next = await client.chat.complete({
      model: 'mistral-medium-3-5',
      messages: [
        { role: 'user', content: 'What is 12 * 14?' },
        { role: 'assistant', content },
        { role: 'user', content: 'And times 2?' },
      ],
      reasoningEffort: 'low',
      maxTokens: 50,
    });
    assert.ok(next.usage.promptTokens! > res.usage.completionTokens! / 2);
    assert.ok(next.usage.completionTokens! <= 50);
  });

  test('streamed reasoning arrives as thinking chunks before the text', async () => {
    const stream = await client.chat.stream({
      model: 'mistral-medium-3-5',
      messages: [{ role: 'user', content: 'hi' }],
      reasoningEffort: 'low',
      maxTokens: 40,
    });
    const kinds: string[] = [];
    for await (const event of stream) {
      const delta = event.data.choices[0]?.delta.content;
      if (Array.isArray(delta)) kinds.push(...delta.map((c) => c.type ?? ''));
      else if (delta) kinds.push('string');
    }
    assert.ok(kinds.includes('thinking'));
    assert.ok(kinds.indexOf('thinking') < Math.max(kinds.indexOf('string'), kinds.length));
  });

  test('an image on the embedded engine is a 400 naming the vision capability', async () => {
    await assert.rejects(
      client.chat.complete({
        model: 'pixtral-12b',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this?' },
              { type: 'image_url', imageUrl: 'https://example.com/x.png' },
            ],
          },
        ],
      }),
      (err: unknown) => err instanceof SDKError && err.statusCode === 400 && /'vision' capability/.test(err.message) && /pixtral-12b/.test(err.message),
    );
  });

  test('prediction is accepted', async () => {
    const res = await client.chat.complete({
      model: 'codestral-latest',
      messages: [{ role: 'user', content: 'add a field' }],
      prediction: { type: 'content', content: 'class A {}' },
      maxTokens: 5,
    });
    assert.equal(res.usage.completionTokens, 5);
  });
});
