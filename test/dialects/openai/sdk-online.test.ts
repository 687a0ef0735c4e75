import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { openAiClient } from './helpers.js';

/** OpenAI-style online calls through the official SDK on the embedded engine (real llama.cpp inference). */
describe('OpenAI online calls through the official SDK, on the embedded engine', () => {
  let server: TestServer;
  let client: OpenAI;
  before(async () => {
    server = await startTestServer({ worker: false });
    client = openAiClient(server);
  });
  after(() => server.stop());

  test('chat.completions.create honours max_completion_tokens and seed', async () => {
    const ask = () =>
      client.chat.completions.create({
        model: 'mistral-small-latest',
        max_completion_tokens: 5,
        seed: 11,
        temperature: 1,
        messages: [
          { role: 'developer', content: 'Answer briefly.' },
          { role: 'user', content: 'Say something.' },
        ],
      });
    const a = await ask();
    assert.equal(a.object, 'chat.completion');
    assert.ok(a.usage!.completion_tokens <= 5);
    assert.equal(typeof a.choices[0]!.message.content, 'string');
    const b = await ask();
    assert.equal(b.choices[0]!.message.content, a.choices[0]!.message.content, 'same seed, same answer');
  });

  test('models.list and models.retrieve read the model cards; an unknown model is a 404 in OpenAI’s error shape', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('mistral-small-latest'), ids.join(', '));
    const card = await client.models.retrieve('mistral-small-latest');
    assert.deepEqual([card.id, card.object], ['mistral-small-latest', 'model']);
    await assert.rejects(client.models.retrieve('no-such-model'), (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.match(e.message, /no-such-model/);
      assert.equal(e.code, 'model_not_found');
      return true;
    });
  });

  test('chat.completions.create refuses logprobs with a 400 naming it', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'mistral-small-latest', logprobs: true, messages: [{ role: 'user', content: 'x' }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /logprobs/.test(e.message),
    );
  });

  test('embeddings.create: the SDK’s default base64 answer decodes to the model’s vector, dimensions truncates it', async () => {
    const full = await client.embeddings.create({ model: 'mistral-embed', input: 'a sentence' });
    assert.equal(full.object, 'list');
    assert.equal(full.data[0]!.embedding.length, 1024);
    const short = await client.embeddings.create({ model: 'mistral-embed', input: ['a sentence', 'another'], dimensions: 8 });
    assert.equal(short.data.length, 2);
    assert.equal(short.data[1]!.embedding.length, 8);
    assert.ok(short.usage.prompt_tokens > 0);
  });

  test('completions.create with suffix runs FIM and answers text_completion (streamed: sdk-responses.test.ts)', async () => {
    const res = await client.completions.create({ model: 'codestral-latest', prompt: 'def add(a, b):\n    return', suffix: '\n', max_tokens: 4 });
    assert.equal(res.object, 'text_completion');
    assert.match(res.id, /^cmpl-/);
    assert.equal(typeof res.choices[0]!.text, 'string');
    assert.equal(res.choices[0]!.logprobs, null);
    assert.ok(res.usage!.completion_tokens <= 4);
    await assert.rejects(
      client.completions.create({ model: 'mistral-small-latest', prompt: 'x' }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'endpoint_not_supported' && /\/v1\/completions/.test(e.message),
    );
  });
});
