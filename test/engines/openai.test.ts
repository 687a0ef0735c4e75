import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { createOpenAiEngine } from '../../src/engines/openai/openai-engine.js';
import { createMistralEngine } from '../../src/engines/mistral.js';
import { EngineError, type Endpoint, type Engine } from '../../src/engines/engine.js';
import { parseGuardScores } from '../../src/engines/moderation.js';
import { parseRetryAfter } from '../../src/engines/http/upstream-client.js';
import type { ModelEntry } from '../../src/models/registry.js';

const entry = (url: string, engine: 'openai' | 'mistral', extra: Partial<ModelEntry> = {}): ModelEntry => ({
  id: 'client-model', engine, url, upstream_model: 'served-model', endpoints: ['/v1/chat/completions'], max_in_flight: 4,
  input_price_per_mtok: 0, output_price_per_mtok: 0, context_length: 2048, ...extra,
});

const run = (engine: Engine, model: ModelEntry, endpoint: Endpoint, body: Record<string, unknown>, signal = new AbortController().signal) =>
  engine.execute({ endpoint, body: { model: 'client-model', ...body }, model, priority: 'batch' }, signal);

async function rejectsWith(p: Promise<unknown>, check: (e: EngineError) => void) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
    check(e);
    return true;
  });
}

describe('openai-compatible engine', () => {
  let up: FakeUpstream;
  let model: ModelEntry;
  let engine: Engine;
  before(async () => {
    up = await startFakeUpstream();
    model = entry(up.url, 'openai');
    engine = createOpenAiEngine(model, { requestTimeoutMs: 300 });
  });
  after(async () => {
    await engine.close();
    await up.close();
  });
  beforeEach(() => up.setFault(null));

  test('chat translates Mistral fields to OpenAI ones and answers in Mistral shape', async () => {
    const res = await run(engine, model, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'hello there' }, { role: 'assistant', content: 'Sure:', prefix: true }],
      random_seed: 7, tool_choice: 'any', safe_prompt: true, max_tokens: 9,
    });
    const sent = up.calls.at(-1)!;
    assert.equal(sent.path, '/v1/chat/completions');
    assert.equal(sent.body.model, 'served-model');
    assert.equal(sent.body.seed, 7);
    assert.equal(sent.body.tool_choice, 'required');
    assert.equal(sent.body.max_tokens, 9);
    assert.equal('safe_prompt' in sent.body, false);
    assert.equal('prefix' in (sent.body.messages as object[])[1]!, false);
    assert.equal(res.body.model, 'client-model');
    assert.equal(res.body.object, 'chat.completion');
    const choice = (res.body.choices as { message: { role: string; content: string }; finish_reason: string }[])[0]!;
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.content, 'reply: hello there');
    assert.equal(choice.finish_reason, 'stop');
    assert.deepEqual(res.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  });

  test('FIM goes to /v1/completions with the suffix and comes back as a chat completion', async () => {
    const res = await run(engine, model, '/v1/fim/completions', { prompt: 'def f(', suffix: 'return x', random_seed: 1 });
    const sent = up.calls.at(-1)!;
    assert.equal(sent.path, '/v1/completions');
    assert.equal(sent.body.suffix, 'return x');
    assert.equal(sent.body.seed, 1);
    const choice = (res.body.choices as { message: { content: string } }[])[0]!;
    assert.equal(choice.message.content, 'fill(def f(|return x)');
    assert.equal(res.body.object, 'chat.completion');
  });

  test('embeddings map output_dimension to dimensions and keep one vector per input', async () => {
    const res = await run(engine, model, '/v1/embeddings', { input: ['a b', 'c'], output_dimension: 8 });
    assert.equal(up.calls.at(-1)!.body.dimensions, 8);
    assert.equal(res.body.object, 'list');
    const data = res.body.data as { object: string; index: number; embedding: number[] }[];
    assert.deepEqual(data.map((d) => d.index), [0, 1]);
    assert.equal(data[0]!.object, 'embedding');
    assert.equal(res.usage.completion_tokens, 0);
  });

  test('moderation runs the model as a guard, one call per text, in Mistral shape', async () => {
    const before = up.calls.length;
    const res = await run(engine, model, '/v1/moderations', { input: ['I will kill the process', 'nice weather'] });
    assert.equal(up.calls.length - before, 2);
    assert.equal(up.calls.at(-1)!.body.temperature, 0);
    const results = res.body.results as { categories: Record<string, boolean>; category_scores: Record<string, number> }[];
    assert.equal(results.length, 2);
    assert.equal(Object.keys(results[0]!.category_scores).length, 9);
    assert.equal(results[0]!.categories.violence_and_threats, true);
    assert.equal(results[1]!.categories.violence_and_threats, false);
  });

  test('chat moderation takes a conversation', async () => {
    const res = await run(engine, model, '/v1/chat/moderations', { input: [{ role: 'user', content: 'kill it' }, { role: 'assistant', content: 'no' }] });
    assert.equal((res.body.results as unknown[]).length, 1);
    assert.match(up.calls.at(-1)!.text, /user: kill it\nassistant: no/);
  });

  const retryable: [string, Parameters<FakeUpstream['setFault']>[0], number, string][] = [
    ['429 with Retry-After seconds', () => ({ kind: 'status', status: 429, retryAfter: 2 }), 429, 'upstream_rate_limited'],
    ['500', () => ({ kind: 'status', status: 500 }), 500, 'upstream_unavailable'],
    ['502', () => ({ kind: 'status', status: 502 }), 502, 'upstream_unavailable'],
    ['503', () => ({ kind: 'status', status: 503 }), 503, 'upstream_unavailable'],
    ['a connection reset', () => ({ kind: 'reset' }), 502, 'upstream_unreachable'],
    ['a hang past the timeout', () => ({ kind: 'hang' }), 504, 'upstream_timeout'],
    ['malformed JSON in a 200', () => ({ kind: 'malformed' }), 502, 'upstream_malformed_response'],
    ['a body cut off half way', () => ({ kind: 'truncated' }), 502, 'upstream_unreachable'],
  ];
  for (const [name, fault, status, code] of retryable) {
    test(`${name} is a retryable failure`, async () => {
      up.setFault(fault);
      await rejectsWith(run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }), (e) => {
        assert.equal(e.retryable, true);
        assert.equal(e.statusCode, status);
        assert.equal(e.code, code);
      });
    });
  }

  test('Retry-After is read in seconds and as an HTTP date', async () => {
    up.setFault(() => ({ kind: 'status', status: 429, retryAfter: 3 }));
    await rejectsWith(run(engine, model, '/v1/chat/completions', { messages: [] }), (e) => assert.equal(e.retryAfterMs, 3000));
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter(new Date(now + 5000).toUTCString(), now), 5000);
    assert.equal(parseRetryAfter('soon', now), null);
  });

  test('a 400 is final and keeps the upstream status and body', async () => {
    up.setFault(() => ({ kind: 'status', status: 400, body: { object: 'error', message: 'context too long', type: 'invalid_request_error' } }));
    await rejectsWith(run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }), (e) => {
      assert.equal(e.retryable, false);
      assert.equal(e.statusCode, 400);
      assert.deepEqual(e.body, { object: 'error', message: 'context too long', type: 'invalid_request_error' });
    });
  });

  test('a request without messages is refused before reaching the upstream', async () => {
    const before = up.calls.length;
    await rejectsWith(run(engine, model, '/v1/chat/completions', {}), (e) => {
      assert.equal(e.statusCode, 422);
      assert.equal((e.body as { param: string }).param, 'messages');
    });
    assert.equal(up.calls.length, before);
  });

  test('an abort cancels the call and is not reported as an upstream failure', async () => {
    up.setFault(() => ({ kind: 'hang' }));
    const ac = new AbortController();
    const p = run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, ac.signal);
    setImmediate(() => ac.abort(new Error('cancelled by test')));
    await assert.rejects(p, (e: unknown) => !(e instanceof EngineError));
  });

  test('sequential calls reuse kept-alive connections', async () => {
    const sockets = up.stats.sockets;
    for (let i = 0; i < 20; i++) await run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: `n${i}` }] });
    assert.ok(up.stats.sockets - sockets <= 2, `opened ${up.stats.sockets - sockets} sockets for 20 calls`);
  });
});

describe('guard answer parsing', () => {
  test('reads fenced JSON with prose, booleans and out-of-range numbers', () => {
    const s = parseGuardScores('Sure!\n```json\n{"sexual": true, "violence_and_threats": 1.7, "pii": -1, "law": "0.25"}\n```');
    assert.equal(s.sexual, 1);
    assert.equal(s.violence_and_threats, 1);
    assert.equal(s.pii, 0);
    assert.equal(s.law, 0.25);
    assert.equal(s.health, 0);
  });
  test('an answer with no JSON object is a clear error', () => {
    assert.throws(() => parseGuardScores('I cannot help with that'), /did not answer with a JSON object/);
  });
});

describe('mistral-compatible engine', () => {
  let up: FakeUpstream;
  let engine: Engine;
  let model: ModelEntry;
  before(async () => {
    up = await startFakeUpstream();
    model = entry(up.url, 'mistral', { api_key: 'secret' });
    engine = createMistralEngine(model, { requestTimeoutMs: 300 });
  });
  after(async () => {
    await engine.close();
    await up.close();
  });

  for (const endpoint of ['/v1/chat/completions', '/v1/fim/completions', '/v1/embeddings', '/v1/moderations', '/v1/chat/moderations'] as Endpoint[]) {
    test(`${endpoint} is forwarded unchanged but for the model name`, async () => {
      const body = endpoint.includes('chat/completions') ? { messages: [{ role: 'user', content: 'hi' }], safe_prompt: true } : endpoint.includes('fim') ? { prompt: 'a', suffix: 'b' } : { input: ['x'] };
      const res = await run(engine, model, endpoint, body);
      const sent = up.calls.at(-1)!;
      assert.equal(sent.path, endpoint);
      assert.equal(sent.body.model, 'served-model');
      assert.equal(sent.headers.authorization, 'Bearer secret');
      for (const [k, v] of Object.entries(body)) assert.deepEqual(sent.body[k], v);
      assert.equal(res.body.model, 'client-model');
    });
  }

  test('errors are classified like the OpenAI engine', async () => {
    up.setFault(() => ({ kind: 'status', status: 503, retryAfter: 1 }));
    await rejectsWith(run(engine, model, '/v1/embeddings', { input: 'x' }), (e) => {
      assert.equal(e.retryable, true);
      assert.equal(e.retryAfterMs, 1000);
    });
    up.setFault(null);
  });
});
