import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { createMistralEngine } from '../../src/engines/mistral.js';
import { EngineError, type Endpoint, type Engine } from '../../src/engines/engine.js';
import type { ModelEntry } from '../../src/models/registry.js';

describe('mistral-compatible engine', () => {
  let up: FakeUpstream;
  let engine: Engine;
  let model: ModelEntry;
  const run = (endpoint: Endpoint, body: Record<string, unknown>, signal = new AbortController().signal) =>
    engine.execute({ endpoint, body: { model: 'client-model', ...body }, model, priority: 'online' }, signal);

  before(async () => {
    up = await startFakeUpstream();
    model = {
      id: 'client-model',
      engine: 'mistral',
      url: up.url,
      upstream_model: 'mistral-small-2506',
      api_key: 'secret',
      endpoints: ['/v1/chat/completions'],
      max_in_flight: 2,
      input_price_per_mtok: 0,
      output_price_per_mtok: 0,
      context_length: 2048,
    };
    engine = createMistralEngine(model, { requestTimeoutMs: 300 });
  });
  after(async () => {
    await engine.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  const bodies: [Endpoint, Record<string, unknown>][] = [
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], safe_prompt: true, random_seed: 3, prompt_mode: 'reasoning', tool_choice: 'any' }],
    ['/v1/fim/completions', { prompt: 'a', suffix: 'b', min_tokens: 1 }],
    ['/v1/embeddings', { input: ['x', 'y'], output_dimension: 8, output_dtype: 'int8' }],
    ['/v1/moderations', { input: ['x'] }],
    ['/v1/chat/moderations', { input: [{ role: 'user', content: 'kill' }] }],
  ];
  for (const [endpoint, body] of bodies) {
    test(`${endpoint} is forwarded unchanged but for the model name, with the API key`, async () => {
      const res = await run(endpoint, body);
      const sent = up.calls.at(-1)!;
      assert.equal(sent.path, endpoint);
      assert.deepEqual(sent.body, { ...body, model: 'mistral-small-2506' });
      assert.equal(sent.headers.authorization, 'Bearer secret');
      assert.equal(sent.headers['content-type'], 'application/json');
      assert.equal(res.body.model, 'client-model');
      assert.ok(res.body.usage, 'a usage object is always present');
    });
  }

  test('the response body passes through; usage is read from it', async () => {
    up.setBehaviour({
      respond: () => ({
        id: 'u1',
        object: 'chat.completion',
        model: 'mistral-small-2506',
        created: 5,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok', prefix: false }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, request_count: 1 },
      }),
    });
    const res = await run('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(res.body, {
      id: 'u1',
      object: 'chat.completion',
      model: 'client-model',
      created: 5,
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok', prefix: false }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5, request_count: 1 },
    });
    assert.deepEqual(res.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  });

  test('moderation results come back one per conversation', async () => {
    const res = await run('/v1/chat/moderations', { input: [[{ role: 'user', content: 'fine' }], [{ role: 'user', content: 'kill' }]] });
    const results = res.body.results as { categories: Record<string, boolean> }[];
    assert.deepEqual(
      results.map((r) => r.categories.violence_and_threats),
      [false, true],
    );
  });

  test('errors are classified by the shared HTTP plumbing', async () => {
    up.setBehaviour({
      rules: [
        { marker: 'busy', fault: { kind: 'status', status: 503, retryAfter: 1 } },
        {
          marker: 'limit',
          fault: { kind: 'status', status: 429, body: { object: 'error', message: 'Rate limit exceeded', type: 'rate_limited', param: null, code: '1300' } },
        },
        { marker: 'reset', fault: { kind: 'reset' } },
        { marker: 'hang', fault: { kind: 'hang' } },
        {
          marker: 'bad',
          fault: {
            kind: 'status',
            status: 422,
            body: { detail: [{ type: 'extra_forbidden', loc: ['body', 'store'], msg: 'Extra inputs are not permitted' }] },
          },
        },
      ],
    });
    const chat = (text: string) => run('/v1/chat/completions', { messages: [{ role: 'user', content: text }] });
    await assert.rejects(chat('busy'), { name: 'EngineError', retryable: true, statusCode: 503, retryAfterMs: 1000 });
    await assert.rejects(chat('limit'), {
      name: 'EngineError',
      retryable: true,
      statusCode: 429,
      code: 'upstream_rate_limited',
      message: 'upstream 429: Rate limit exceeded',
    });
    await assert.rejects(chat('reset'), { name: 'EngineError', retryable: true, code: 'upstream_unreachable' });
    await assert.rejects(chat('hang'), { name: 'EngineError', retryable: true, code: 'upstream_timeout' });
    await assert.rejects(chat('bad'), (e: EngineError) => {
      assert.equal(e.retryable, false);
      assert.equal(e.statusCode, 422);
      assert.deepEqual(e.body, { detail: [{ type: 'extra_forbidden', loc: ['body', 'store'], msg: 'Extra inputs are not permitted' }] });
      return true;
    });
  });

  test('an abort is an AbortError', async () => {
    up.setBehaviour({ fault: { kind: 'hang' } });
    const ac = new AbortController();
    const p = run('/v1/embeddings', { input: 'x' }, ac.signal);
    while (up.stats.inFlight === 0) await new Promise((r) => setTimeout(r, 2));
    ac.abort();
    await assert.rejects(p, (e: Error) => e.name === 'AbortError' && !(e instanceof EngineError));
  });
});
