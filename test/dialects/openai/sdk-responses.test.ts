import { jobIdOf } from '../../../src/dialects/openai/ids.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { openAiLine, openAiSuite, resultLines, uploadBatchFile, waitForBatch } from './helpers.js';

const MODEL = 'mistral-small-latest';

/** The text of a Response's message items, read from the wire object (not the SDK's output_text helper). */
const messageText = (r: { output: unknown[] }) =>
  (r.output as { type: string; content?: { type: string; text: string }[] }[])
    .filter((o) => o.type === 'message')
    .flatMap((o) => o.content!.map((c) => c.text))
    .join('');

/** The Responses API and streamed completions through the official SDK, on the embedded engine (real llama.cpp inference). */
describe('OpenAI Responses API and completion streams through the official SDK, on the embedded engine', () => {
  const suite = openAiSuite();

  test('responses.create: a Response object with a message item, usage, and the SDK’s output_text', async () => {
    const r = await suite.client.responses.create({
      model: MODEL,
      instructions: 'Answer briefly.',
      input: 'Say something.',
      max_output_tokens: 6,
      temperature: 0,
    });
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_[0-9a-f]{32}$/);
    assert.ok(['completed', 'incomplete'].includes(r.status!), r.status);
    if (r.status === 'incomplete') assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.instructions, 'Answer briefly.');
    assert.equal(r.max_output_tokens, 6);
    assert.equal(r.model, MODEL);
    const [item] = r.output;
    assert.equal(item!.type, 'message');
    assert.match((item as { id: string }).id, /^msg_/);
    assert.equal((item as { role: string }).role, 'assistant');
    assert.ok(r.usage!.input_tokens > 0);
    assert.ok(r.usage!.output_tokens > 0 && r.usage!.output_tokens <= 6);
    assert.equal(r.usage!.total_tokens, r.usage!.input_tokens + r.usage!.output_tokens);
    assert.equal(r.output_text, messageText(r));
    assert.ok(r.output_text.length > 0);
    // The same request as a message list answers the same (temperature 0): instructions are the system turn.
    const again = await suite.client.responses.create({
      model: MODEL,
      input: [
        { role: 'developer', content: 'Answer briefly.' },
        { role: 'user', content: [{ type: 'input_text', text: 'Say something.' }] },
      ],
      max_output_tokens: 6,
      temperature: 0,
    });
    assert.equal(again.output_text, r.output_text);
  });

  test('responses.create refuses what batchd cannot honour with a 400 naming the param', async () => {
    const refused = async (extra: Record<string, unknown>, param: string) =>
      assert.rejects(
        suite.client.responses.create({ model: MODEL, input: 'x', ...extra } as OpenAI.Responses.ResponseCreateParamsNonStreaming),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === param && e.type === 'invalid_request_error' && e.message.includes(param),
      );
    await refused({ previous_response_id: 'resp_123' }, 'previous_response_id');
    await refused({ store: true }, 'store');
    await refused({ background: true }, 'background');
    await refused({ tools: [{ type: 'web_search' }] }, 'tools.0.type');
    await refused({ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] }, 'input.0.content.0');
  });

  test('responses.create with stream: the Responses events in order, their deltas the final text; responses.stream accumulates it', async () => {
    const stream = await suite.client.responses.create({ model: MODEL, input: 'Tell me a story.', max_output_tokens: 8, temperature: 0, stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.ok(['response.completed', 'response.incomplete'].includes(types.at(-1)!), types.at(-1));
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
    assert.ok(deltas.length > 0);
    const last = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    assert.equal(messageText(last.response), deltas.join(''));
    assert.ok(last.response.usage!.output_tokens > 0);
    // Not streamed, the same request (temperature 0) answers the same text.
    const whole = await suite.client.responses.create({ model: MODEL, input: 'Tell me a story.', max_output_tokens: 8, temperature: 0 });
    assert.equal(whole.output_text, deltas.join(''));
    const final = await suite.client.responses.stream({ model: MODEL, input: 'Tell me a story.', max_output_tokens: 8, temperature: 0 }).finalResponse();
    assert.equal(final.output_text, whole.output_text);
  });

  test('function tools: a forced call comes back as a function_call item (whole and streamed), its output is answered', async () => {
    const tools: OpenAI.Responses.FunctionTool[] = [
      {
        type: 'function',
        name: 'get_weather',
        description: 'Weather of a city',
        parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] },
        strict: false,
      },
    ];
    const ask = { model: MODEL, input: 'Weather in Paris?', tools, tool_choice: { type: 'function' as const, name: 'get_weather' }, max_output_tokens: 64 };
    const first = await suite.client.responses.create(ask);
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call', JSON.stringify(first.output));
    assert.equal(call.name, 'get_weather');
    assert.match(call.id!, /^fc_/);
    assert.equal(call.status, 'completed');
    assert.equal(typeof (JSON.parse(call.arguments) as { city?: unknown }).city, 'string');
    assert.deepEqual(first.tool_choice, { type: 'function', name: 'get_weather' });

    const streamed = await suite.client.responses.stream(ask).finalResponse();
    const streamedCall = streamed.output.find((o) => o.type === 'function_call');
    assert.ok(streamedCall && streamedCall.type === 'function_call', JSON.stringify(streamed.output));
    assert.equal(streamedCall.name, 'get_weather');
    assert.equal(typeof (JSON.parse(streamedCall.arguments) as { city?: unknown }).city, 'string');

    const second = await suite.client.responses.create({
      model: MODEL,
      tools,
      max_output_tokens: 8,
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '18°C, sunny' },
      ],
    });
    assert.equal(second.object, 'response');
    assert.ok(second.output.length >= 1);
  });

  test('a batch with endpoint /v1/responses: its output lines are Response objects, a refused line fails alone', async () => {
    const file = await uploadBatchFile(suite.client, [
      openAiLine('a', '/v1/responses', { model: MODEL, input: 'hello', max_output_tokens: 4 }),
      openAiLine('b', '/v1/responses', { model: MODEL, instructions: 'Be brief.', input: [{ role: 'user', content: 'hi' }], max_output_tokens: 4 }),
      openAiLine('c', '/v1/responses', { model: MODEL, input: 'x', previous_response_id: 'resp_1' }),
    ]);
    const created = await suite.client.batches.create({ input_file_id: file.id, endpoint: '/v1/responses', completion_window: '24h', metadata: { run: 'r' } });
    assert.equal(created.endpoint, '/v1/responses');
    assert.deepEqual(created.metadata, { run: 'r' });
    const done = await waitForBatch(suite.client, created.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.endpoint, '/v1/responses');
    assert.deepEqual(done.request_counts, { total: 3, completed: 2, failed: 1 });
    const output = await resultLines(suite.client, done.output_file_id);
    assert.deepEqual(
      output.map((l) => l.custom_id),
      ['a', 'b'],
    );
    for (const line of output) {
      const body = line.response.body;
      assert.equal(line.response.status_code, 200);
      assert.equal(body.object, 'response');
      assert.match(body.id, /^resp_/);
      assert.equal(body.output[0].type, 'message');
      assert.equal(body.output[0].content[0].type, 'output_text');
      assert.ok(body.usage.output_tokens > 0 && body.usage.output_tokens <= 4);
    }
    const [refused] = await resultLines(suite.client, done.error_file_id);
    assert.equal(refused!.custom_id, 'c');
    assert.equal(refused!.response.status_code, 400);
    assert.match(refused!.response.body.error.message, /previous_response_id/);
    // The endpoint is the batch's in the list too, and its own metadata only.
    const listed = (await suite.client.batches.list()).data.find((b) => b.id === created.id)!;
    assert.equal(listed.endpoint, '/v1/responses');
    assert.deepEqual(listed.metadata, { run: 'r' });
    // The native view: the engines' endpoint, and the batch's metadata as given (nothing of batchd's own in it).
    const native = await suite.server.request('GET', `/v1/batch/jobs/${jobIdOf(created.id)}`);
    assert.equal(native.status, 200);
    assert.equal(native.body.endpoint, '/v1/chat/completions');
    assert.deepEqual(native.body.metadata, { run: 'r' });
  });

  test('a /v1/responses batch whose lines say another url, or are chat requests, fails at validation, line-numbered', async () => {
    const file = await uploadBatchFile(suite.client, [
      openAiLine('a', '/v1/responses', { model: MODEL, input: 'hello' }),
      openAiLine('b', '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      openAiLine('c', '/v1/responses', { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    ]);
    const created = await suite.client.batches.create({ input_file_id: file.id, endpoint: '/v1/responses', completion_window: '24h' });
    assert.equal(created.status, 'failed');
    assert.equal(created.endpoint, '/v1/responses');
    assert.equal(created.metadata, null);
    assert.deepEqual(
      created.errors!.data!.map((e) => [e.line, e.code, e.param]),
      [
        [2, 'url_mismatch', 'url'],
        [3, 'missing_required_parameter', 'body.input'],
      ],
    );
    // A chat batch's lines cannot be Responses requests either.
    const chat = await suite.client.batches.create({
      input_file_id: (await uploadBatchFile(suite.client, [openAiLine('a', '/v1/chat/completions', { model: MODEL, input: 'hello' })])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    assert.deepEqual(
      chat.errors!.data!.map((e) => [e.line, e.code, e.param]),
      [[1, 'missing_required_parameter', 'body.messages']],
    );
  });

  test('completions.create with stream: text_completion chunks whose text is the whole completion, then a usage chunk when asked', async () => {
    const ask = { model: 'codestral-latest', prompt: 'def add(a, b):\n    return', suffix: '\n', max_tokens: 6, temperature: 0 };
    const whole = await suite.client.completions.create(ask);
    const stream = await suite.client.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Completions.Completion[] = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length >= 2);
    for (const c of chunks) {
      assert.equal(c.object, 'text_completion');
      assert.match(c.id, /^cmpl-/);
      assert.equal(c.id, chunks[0]!.id);
    }
    const usage = chunks.at(-1)!;
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage!.completion_tokens, whole.usage!.completion_tokens);
    const texts = chunks.slice(0, -1);
    assert.equal(texts.map((c) => c.choices[0]!.text).join(''), whole.choices[0]!.text);
    assert.equal(texts.at(-1)!.choices[0]!.finish_reason, whole.choices[0]!.finish_reason);
    assert.ok(texts.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null));
    // Without include_usage, no usage chunk: the last chunk has the finish reason.
    const plain: OpenAI.Completions.Completion[] = [];
    for await (const c of await suite.client.completions.create({ ...ask, stream: true })) plain.push(c);
    assert.ok(plain.every((c) => c.choices.length === 1 && !c.usage));
    assert.equal(plain.map((c) => c.choices[0]!.text).join(''), whole.choices[0]!.text);
  });
});
