import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runTwoLineJob } from '../helpers/sdk-jobs.js';

/** The five endpoints online and in batches through the official SDK, on the generated default model. */
describe('embedded default model through the official SDK', () => {
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    server = await startTestServer({ env: { BATCHD_LLAMA_SEQUENCES: '4', BATCHD_LLAMA_CONTEXT: '1024' } });
    client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
  });
  after(() => server.stop());

  test('chat.complete answers with usage, deterministic at temperature 0', async () => {
    const ask = () =>
      client.chat.complete({
        model: 'mistral-small-latest',
        messages: [{ role: 'user', content: 'What is the best French cheese?' }],
        maxTokens: 16,
        temperature: 0,
      });
    const a = await ask();
    const b = await ask();
    assert.equal(a.model, 'mistral-small-latest');
    assert.equal(a.choices?.[0]?.message?.content, b.choices?.[0]?.message?.content);
    assert.equal(a.usage?.completionTokens, 16);
    assert.equal(a.choices?.[0]?.finishReason, 'length');
  });

  test('chat.stream delivers the completion token by token as server-sent events', async () => {
    const stream = await client.chat.stream({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'hello' }], maxTokens: 8, temperature: 0 });
    let text = '';
    let pieces = 0;
    let finish: string | null | undefined;
    for await (const event of stream) {
      const piece = (event.data.choices[0]?.delta.content as string | undefined) ?? '';
      if (piece) pieces++;
      text += piece;
      finish = event.data.choices[0]?.finishReason ?? finish;
    }
    const whole = await client.chat.complete({ model: 'mistral-small-latest', messages: [{ role: 'user', content: 'hello' }], maxTokens: 8, temperature: 0 });
    assert.equal(text, whole.choices?.[0]?.message?.content);
    assert.equal(finish, 'length');
    assert.ok(pieces >= 2, `the text came in ${pieces} piece(s), not token by token`);
  });

  test('fim.complete, embeddings.create and both moderation calls work online', async () => {
    const fim = await client.fim.complete({ model: 'codestral-latest', prompt: 'def add(a, b):', suffix: 'return c', maxTokens: 5, temperature: 0 });
    assert.equal(fim.usage?.completionTokens, 5);
    const emb = await client.embeddings.create({ model: 'mistral-embed', inputs: ['hello world', 'batch'] });
    assert.equal(emb.data.length, 2);
    assert.equal(emb.data[0]!.embedding!.length, 1024);
    const mod = await client.classifiers.moderate({ model: 'mistral-moderation-latest', inputs: ['some text'] });
    assert.equal(Object.keys(mod.results[0]!.categoryScores!).length, 9);
    const chatMod = await client.classifiers.moderateChat({ model: 'mistral-moderation-latest', inputs: [{ role: 'user', content: 'hi' }] });
    assert.equal(chatMod.results.length, 1);
  });

  test('a model the registry lacks is a clear 400', async () => {
    await assert.rejects(client.chat.complete({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }), /Invalid model: gpt-9/);
  });

  const batches: [string, string, Record<string, unknown>][] = [
    ['/v1/chat/completions', 'mistral-small-latest', { max_tokens: 6, temperature: 0, messages: [{ role: 'user', content: 'hi' }] }],
    ['/v1/fim/completions', 'codestral-latest', { max_tokens: 4, prompt: 'x =', suffix: 'y' }],
    ['/v1/embeddings', 'mistral-embed', { input: ['a', 'b'] }],
    ['/v1/moderations', 'mistral-moderation-latest', { input: 'text' }],
    ['/v1/chat/moderations', 'mistral-moderation-latest', { input: [{ role: 'user', content: 'hi' }] }],
  ];
  for (const [endpoint, model, body] of batches) {
    test(`a ${endpoint} batch runs on the embedded engine`, async () => {
      const done = await runTwoLineJob(client, server, model, endpoint, body);
      assert.equal(done.outputs[0].response.status_code, 200);
      assert.ok(done.usage.prompt_tokens > 0);
    });
  }
});
