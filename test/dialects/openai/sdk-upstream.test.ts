import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.js';
import { startTestServer, upstreamModels, type TestServer } from '../../helpers/server.js';
import { openAiClient, openAiLine, resultLines, uploadBatchFile, waitForBatch } from './helpers.js';

/** OpenAI batches and online calls through the official SDK, run on upstream engines (a real-HTTP fake server). */
describe('OpenAI dialect on upstream engines, through the official SDK', () => {
  let up: FakeUpstream;
  let server: TestServer;
  let client: OpenAI;
  const callsTo = (path: string) => up.calls.filter((c) => c.path === path);
  const run = async (endpoint: '/v1/chat/completions' | '/v1/embeddings' | '/v1/completions' | '/v1/moderations' | '/v1/responses', lines: unknown[]) => {
    const file = await uploadBatchFile(client, lines);
    const batch = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h' });
    const done = await waitForBatch(client, batch.id);
    assert.equal(done.status, 'completed');
    return { done, output: await resultLines(client, done.output_file_id), errors: await resultLines(client, done.error_file_id) };
  };
  before(async () => {
    up = await startFakeUpstream({ latencyMs: 1 });
    server = await startTestServer({ models: upstreamModels(up.url) });
    client = openAiClient(server);
  });
  after(async () => {
    await server.stop();
    await up.close();
  });

  test('chat: OpenAI fields reach an OpenAI-compatible upstream translated (max_completion_tokens, seed, tool_choice, json_schema strict)', async () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    const { output } = await run('/v1/chat/completions', [
      openAiLine('c0', '/v1/chat/completions', {
        model: 'up-openai',
        max_completion_tokens: 5,
        seed: 3,
        user: 'someone',
        response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } },
        messages: [
          { role: 'developer', content: 'be brief' },
          { role: 'user', content: 'first question' },
        ],
      }),
      openAiLine('c1', '/v1/chat/completions', {
        model: 'up-openai',
        tools,
        tool_choice: 'required',
        messages: [{ role: 'user', content: 'second question' }],
      }),
    ]);
    const [first, second] = callsTo('/v1/chat/completions').sort((a, b) => String(a.text).localeCompare(String(b.text)));
    assert.equal(first!.body.max_tokens, 5);
    assert.equal(first!.body.seed, 3);
    assert.equal(first!.body.user, undefined);
    assert.deepEqual(first!.body.response_format, { type: 'json_schema', json_schema: { name: 's', schema, strict: true } });
    assert.equal((first!.body.messages as { role: string }[])[0]!.role, 'system');
    assert.equal(second!.body.tool_choice, 'required');
    assert.deepEqual(
      output.map((l) => l.custom_id),
      ['c0', 'c1'],
    );
    assert.equal(output[0]!.response.body.object, 'chat.completion');
    assert.match(output[0]!.response.body.choices[0].message.content, /first question/);
  });

  test('chat on a Mistral upstream: the body it gets is Mistral’s (max_tokens, random_seed, tool_choice any, OpenAI-only fields gone)', async () => {
    up.calls.length = 0;
    await run('/v1/chat/completions', [
      openAiLine('m0', '/v1/chat/completions', {
        model: 'up-mistral',
        max_completion_tokens: 4,
        seed: 9,
        store: true,
        tool_choice: 'required',
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
        messages: [{ role: 'user', content: 'x' }],
      }),
    ]);
    const [call] = callsTo('/v1/chat/completions');
    assert.equal(call!.body.max_tokens, 4);
    assert.equal(call!.body.random_seed, 9);
    assert.equal(call!.body.tool_choice, 'any');
    for (const k of ['max_completion_tokens', 'seed', 'store']) assert.equal(call!.body[k], undefined, k);
  });

  test('embeddings: dimensions reach the upstream, results are OpenAI’s embedding list', async () => {
    const { output } = await run('/v1/embeddings', [openAiLine('e0', '/v1/embeddings', { model: 'up-openai', input: ['a', 'b'], dimensions: 4 })]);
    assert.equal(callsTo('/v1/embeddings').at(-1)!.body.dimensions, 4);
    const body = output[0]!.response.body;
    assert.equal(body.object, 'list');
    assert.equal(body.data.length, 2);
    assert.deepEqual(
      body.data.map((d: { object: string; index: number }) => [d.object, d.index]),
      [
        ['embedding', 0],
        ['embedding', 1],
      ],
    );
    assert.ok(body.data[0].embedding.every((x: unknown) => typeof x === 'number'));
    assert.deepEqual(Object.keys(body.usage).sort(), ['prompt_tokens', 'total_tokens']);
  });

  test('completions: prompt and suffix run as FIM, answered as text_completion', async () => {
    const { output } = await run('/v1/completions', [openAiLine('t0', '/v1/completions', { model: 'up-openai', prompt: 'def f(', suffix: ') pass' })]);
    const call = callsTo('/v1/completions').at(-1)!;
    assert.equal(call.body.suffix, ') pass');
    // OpenAI's default max_tokens for completions is 16.
    assert.equal(call.body.max_tokens, 16);
    const body = output[0]!.response.body;
    assert.equal(body.object, 'text_completion');
    assert.equal(body.choices[0].text, 'fill(def f(|) pass)');
  });

  test('moderations: OpenAI’s categories, flagged where the guard scores Mistral’s category high', async () => {
    const { output } = await run('/v1/moderations', [openAiLine('m0', '/v1/moderations', { model: 'up-openai', input: ['I will kill them', 'hello there'] })]);
    const [violent, calm] = output[0]!.response.body.results;
    assert.equal(violent.flagged, true);
    assert.equal(violent.categories.violence, true);
    assert.ok(violent.category_scores.violence > 0.5);
    assert.equal(violent.categories.sexual, false);
    assert.equal(calm.flagged, false);
    assert.ok('self-harm/intent' in calm.category_scores);
  });

  test('an upstream refusal goes to the error file as an OpenAI error body, with response and no top-level error', async () => {
    up.setBehaviour({
      latencyMs: 1,
      rules: [
        {
          marker: 'REFUSE',
          fault: { kind: 'status', status: 400, body: { error: { message: 'nope', type: 'invalid_request_error', param: 'messages', code: null } } },
        },
      ],
    });
    try {
      const { done, errors } = await run('/v1/chat/completions', [
        openAiLine('r0', '/v1/chat/completions', { model: 'up-openai', messages: [{ role: 'user', content: 'REFUSE' }] }),
      ]);
      assert.deepEqual(done.request_counts, { total: 1, completed: 0, failed: 1 });
      assert.equal(done.output_file_id, null);
      assert.equal(errors[0]!.response.status_code, 400);
      assert.equal(errors[0]!.response.body.error.message, 'nope');
      assert.equal(errors[0]!.error, null);
    } finally {
      up.setBehaviour({ latencyMs: 1 });
    }
  });

  test('online: chat.completions, embeddings (the SDK’s base64 default) and completions (suffix) on the upstream', async () => {
    up.calls.length = 0;
    const chat = await client.chat.completions.create({
      model: 'up-openai',
      max_completion_tokens: 7,
      seed: 1,
      messages: [{ role: 'user', content: 'online hi' }],
    });
    assert.match(chat.choices[0]!.message.content!, /online hi/);
    assert.equal(callsTo('/v1/chat/completions')[0]!.body.max_tokens, 7);
    const emb = await client.embeddings.create({ model: 'up-openai', input: 'vector me' });
    assert.equal(emb.data[0]!.embedding.length, 8);
    assert.ok(emb.data[0]!.embedding.every((x) => typeof x === 'number'));
    const text = await client.completions.create({ model: 'up-openai', prompt: 'a', suffix: 'b', max_tokens: 3 });
    assert.equal(text.object, 'text_completion');
    assert.equal(text.choices[0]!.text, 'fill(a|b)');
    assert.equal(callsTo('/v1/completions')[0]!.body.max_tokens, 3);
  });

  test('online responses.create: instructions, input items, max_output_tokens, text.format, function tools reach the upstream as a chat request', async () => {
    up.calls.length = 0;
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const r = await client.responses.create({
      model: 'up-openai',
      instructions: 'be brief',
      input: [
        { role: 'user', content: 'what is the weather' },
        { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
        { role: 'user', content: [{ type: 'input_text', text: 'responses online' }] },
      ],
      max_output_tokens: 9,
      temperature: 0.5,
      text: { format: { type: 'json_schema', name: 's', schema, strict: true } },
      tools: [{ type: 'function', name: 'weather', description: 'the weather', parameters: { type: 'object', properties: {} }, strict: false }],
      tool_choice: 'required',
    });
    const call = callsTo('/v1/chat/completions')[0]!;
    assert.deepEqual(call.body.messages, [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'what is the weather' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'user', content: 'responses online' },
    ]);
    assert.equal(call.body.max_tokens, 9);
    assert.equal(call.body.temperature, 0.5);
    assert.equal(call.body.tool_choice, 'required');
    assert.deepEqual(call.body.response_format, { type: 'json_schema', json_schema: { name: 's', schema, strict: true } });
    assert.deepEqual(call.body.tools, [
      { type: 'function', function: { name: 'weather', description: 'the weather', parameters: { type: 'object', properties: {} }, strict: false } },
    ]);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.match(r.output_text, /responses online/);
    assert.deepEqual(r.text, { format: { type: 'json_schema', name: 's', schema, strict: true } });
    assert.equal(r.tool_choice, 'required');
  });

  test('online responses and completions streams on the upstream: a delta per streamed word, the same text as unstreamed', async () => {
    const whole = await client.responses.create({ model: 'up-openai', input: 'three little words' });
    const deltas: string[] = [];
    let completed: OpenAI.Responses.Response | null = null;
    for await (const e of await client.responses.create({ model: 'up-openai', input: 'three little words', stream: true })) {
      if (e.type === 'response.output_text.delta') deltas.push(e.delta);
      if (e.type === 'response.completed') completed = e.response;
    }
    assert.ok(deltas.length > 1, `one delta per word: ${JSON.stringify(deltas)}`);
    assert.equal(deltas.join(''), whole.output_text);
    assert.equal(completed!.usage!.total_tokens, whole.usage!.total_tokens);
    const pieces: string[] = [];
    for await (const c of await client.completions.create({ model: 'up-openai', prompt: 'a', suffix: 'b', max_tokens: 3, stream: true })) {
      assert.equal(c.object, 'text_completion');
      pieces.push(c.choices[0]!.text);
    }
    assert.equal(pieces.join(''), 'fill(a|b)');
  });

  test('a /v1/responses batch on the upstream: chat requests upstream, Response objects in the output file', async () => {
    up.calls.length = 0;
    const { done, output } = await run('/v1/responses', [
      openAiLine('q0', '/v1/responses', { model: 'up-openai', input: 'batched response', max_output_tokens: 5 }),
    ]);
    assert.equal(done.endpoint, '/v1/responses');
    assert.equal(callsTo('/v1/chat/completions')[0]!.body.max_tokens, 5);
    const body = output[0]!.response.body;
    assert.equal(body.object, 'response');
    assert.equal(body.status, 'completed');
    assert.match(body.output[0].content[0].text, /batched response/);
    assert.ok(body.usage.total_tokens > 0);
  });
});
