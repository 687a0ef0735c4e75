import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.js';
import { startTestServer, upstreamModels, waitFor, type TestServer } from '../../helpers/server.js';

/**
 * One online queue per model across dialects: Anthropic's /v1/messages and Mistral's
 * /v1/chat/completions pass the same gate, so a flood on one is shed by what the other
 * holds. The upstream holds every call (no concurrency slot) until the test lets them go,
 * so which calls are running, waiting and shed is decided by the gate alone, not by timing.
 */
const QUEUE = 1;
const MODEL = 'up-openai';

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Record<string, any>;
}

describe('the online queue limit is one limit across dialects', { timeout: 60_000 }, () => {
  let up: FakeUpstream;
  let server: TestServer;
  before(async () => {
    up = await startFakeUpstream();
    // One call inside the engine and QUEUE waiting: the third online call of any dialect is shed.
    server = await startTestServer({
      models: upstreamModels(up.url, { max_in_flight: 1 }),
      env: { BATCHD_ONLINE_QUEUE_LIMIT: String(QUEUE), BATCHD_UPSTREAM_TIMEOUT_MS: '60000' },
    });
  });
  after(async () => {
    await server?.stop();
    await up?.close();
  });

  const chat = async (content: string): Promise<Answer> => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...server.auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }] }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, any> };
  };
  const message = async (content: string): Promise<Answer> => {
    const res = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': server.keys.a, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content }] }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, any> };
  };

  /** The shed call's 429, in its own dialect's error shape. */
  const assertShed = (a: Answer, dialect: 'anthropic' | 'mistral') => {
    assert.equal(a.status, 429, JSON.stringify(a.body));
    assert.ok(Number(a.retryAfter) >= 1, `Retry-After ${a.retryAfter}`);
    if (dialect === 'anthropic') {
      assert.equal(a.body.type, 'error');
      assert.equal(a.body.error.type, 'rate_limit_error');
      assert.match(a.body.error.message, /busy/);
    } else assert.equal(a.body.code, 'online_queue_full');
  };

  for (const [holder, flooder] of [
    ['chat', 'anthropic'],
    ['anthropic', 'chat'],
  ] as const) {
    test(`a ${flooder === 'anthropic' ? '/v1/messages' : '/v1/chat/completions'} flood is shed by the queue a ${holder === 'chat' ? '/v1/chat/completions' : '/v1/messages'} call holds`, async () => {
      up.reset();
      up.setMaxConcurrent(0);
      const send = (dialect: 'chat' | 'anthropic', content: string) => (dialect === 'chat' ? chat(content) : message(content));
      try {
        const held = send(holder, 'first');
        await waitFor('the first call to reach the upstream', async () => (up.stats.total === 1 ? true : undefined));
        // Three more of the other dialect: with one gate, one waits behind the held call and two are
        // shed at once; with a gate per dialect, one would run beside it and only one be shed.
        const settled: Answer[] = [];
        const flood = Array.from({ length: 3 }, (_, i) => send(flooder, `flood ${i}`).then((a) => (settled.push(a), a)));
        await waitFor('two of the flood to be shed', async () => (settled.length >= 2 ? true : undefined));
        for (const a of settled) assertShed(a, flooder === 'anthropic' ? 'anthropic' : 'mistral');
        up.setMaxConcurrent(Infinity);
        const answers = [await held, ...(await Promise.all(flood))];
        assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429, 429]);
        // Only the held call and the one that waited behind it reached the upstream.
        assert.equal(up.stats.total, 2);
      } finally {
        up.setMaxConcurrent(Infinity);
      }
    });
  }
});
