import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startTestServer, upstreamModels, type TestServer } from '../helpers/server.js';

/** Online streaming through upstream engines: the upstream's events are passed on as they arrive. */
describe('online streaming through upstream engines (official SDK)', () => {
  let up: FakeUpstream;
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    up = await startFakeUpstream();
    server = await startTestServer({ models: upstreamModels(up.url), worker: false });
    client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
  });
  after(async () => {
    await server.stop();
    await up.close();
  });
  beforeEach(() => up.setBehaviour({}));

  for (const model of ['up-openai', 'up-mistral']) {
    // A stream that waited for the whole answer would wait for the gate forever: the timeout turns that into a failure.
    test(`chat.stream through ${model}: the first piece arrives while the upstream is still generating`, { timeout: 15_000 }, async () => {
      let open!: () => void;
      up.setBehaviour({ streamGate: new Promise<void>((r) => (open = r)) });
      const stream = await client.chat.stream({ model, messages: [{ role: 'user', content: 'one two three four' }], maxTokens: 20 });
      const events = stream[Symbol.asyncIterator]();
      let text = '';
      // The upstream holds everything after its first word until the gate opens: whatever
      // arrives now was passed on before the upstream finished.
      for (;;) {
        const first = await events.next();
        assert.equal(first.done, false, 'the stream ended before any text');
        text += (first.value.data.choices[0]?.delta.content as string | undefined) ?? '';
        if (text) break;
      }
      assert.equal(text, 'reply:');
      open();
      let usage;
      let finish;
      for (let e = await events.next(); !e.done; e = await events.next()) {
        text += (e.value.data.choices[0]?.delta.content as string | undefined) ?? '';
        usage = e.value.data.usage ?? usage;
        finish = e.value.data.choices[0]?.finishReason ?? finish;
      }
      assert.equal(text, 'reply: one two three four');
      assert.equal(finish, 'stop');
      assert.deepEqual(usage, { promptTokens: 4, completionTokens: 5, totalTokens: 9 });
      const sent = up.calls.at(-1)!.body;
      assert.equal(sent.stream, true);
      assert.equal(sent.model, model === 'up-openai' ? 'served' : 'up-mistral');
      if (model === 'up-openai') assert.deepEqual(sent.stream_options, { include_usage: true });
    });
  }

  test('fim.stream through the OpenAI-compatible engine streams /v1/completions text', async () => {
    const stream = await client.fim.stream({ model: 'up-openai', prompt: 'def f(', suffix: 'return x' });
    const pieces: string[] = [];
    for await (const e of stream) {
      const p = (e.data.choices[0]?.delta.content as string | undefined) ?? '';
      if (p) pieces.push(p);
    }
    assert.equal(pieces.join(''), 'fill(def f(|return x)');
    assert.equal(up.calls.at(-1)!.path, '/v1/completions');
  });

  test('a chat with tools is not streamed from the upstream but still answers as one event stream', async () => {
    const stream = await client.chat.stream({
      model: 'up-openai',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
    });
    let text = '';
    for await (const e of stream) text += (e.data.choices[0]?.delta.content as string | undefined) ?? '';
    assert.equal(text, 'reply: hi');
    assert.equal(up.calls.at(-1)!.body.stream, false);
  });

  test('an upstream refusal before the stream starts is a normal error response', async () => {
    up.setBehaviour({ fault: { kind: 'status', status: 400, body: { object: 'error', message: 'bad thing' } } });
    await assert.rejects(
      client.chat.stream({ model: 'up-mistral', messages: [{ role: 'user', content: 'x' }] }),
      (e: { statusCode?: number; body?: string }) => e.statusCode === 400 && /bad thing/.test(e.body ?? ''),
    );
  });
});
