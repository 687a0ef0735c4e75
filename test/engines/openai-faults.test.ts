import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFakeUpstream, type Behaviour, type FakeUpstream, type Rule } from '../helpers/fake-upstream.js';
import { createOpenAiEngine } from '../../src/engines/openai/openai-engine.js';
import { EngineError, type Engine } from '../../src/engines/engine.js';
import { parseRetryAfter } from '../../src/engines/http/upstream-client.js';
import type { ModelEntry } from '../../src/models/registry.js';

const entry = (url: string, max_in_flight = 4): ModelEntry => ({
  id: 'client-model',
  engine: 'openai',
  url,
  upstream_model: 'served-model',
  endpoints: ['/v1/chat/completions'],
  max_in_flight,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: 2048,
});
const chat = (engine: Engine, model: ModelEntry, text = 'x', signal = new AbortController().signal) =>
  engine.execute(
    { endpoint: '/v1/chat/completions', body: { model: 'client-model', messages: [{ role: 'user', content: text }] }, model, priority: 'batch' },
    signal,
  );

/** Polls until `check` holds; the test runner's timeout bounds it, so no duration is asserted. */
async function until(check: () => boolean) {
  while (!check()) await new Promise((r) => setTimeout(r, 2));
}

describe('openai-compatible engine: failures', () => {
  let up: FakeUpstream;
  let model: ModelEntry;
  let engine: Engine;
  before(async () => {
    up = await startFakeUpstream();
    model = entry(up.url);
    engine = createOpenAiEngine(model, { requestTimeoutMs: 300 });
  });
  after(async () => {
    await engine.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  const inAnHour = new Date(Date.now() + 3_600_000).toUTCString();
  const retryable: [string, Behaviour, Partial<EngineError>][] = [
    [
      '429 with Retry-After in seconds',
      { fault: { kind: 'status', status: 429, retryAfter: 2 } },
      { statusCode: 429, code: 'upstream_rate_limited', retryAfterMs: 2000 },
    ],
    [
      '503 with Retry-After as an HTTP date',
      { fault: { kind: 'status', status: 503, retryAfter: inAnHour } },
      { statusCode: 503, code: 'upstream_unavailable' },
    ],
    ['408', { fault: { kind: 'status', status: 408 } }, { statusCode: 408, code: 'upstream_unavailable', retryAfterMs: null }],
    ['500', { fault: { kind: 'status', status: 500 } }, { statusCode: 500, code: 'upstream_unavailable' }],
    [
      '502 with an HTML body',
      { fault: { kind: 'status', status: 502, body: '<html>Bad Gateway</html>' } },
      { statusCode: 502, body: { object: 'error', message: '<html>Bad Gateway</html>', type: 'upstream_error', param: null, code: null } },
    ],
    ['503', { fault: { kind: 'status', status: 503 } }, { statusCode: 503, code: 'upstream_unavailable' }],
    ['a connection reset', { fault: { kind: 'reset' } }, { statusCode: 502, code: 'upstream_unreachable' }],
    ['a hang past the timeout', { fault: { kind: 'hang' } }, { statusCode: 504, code: 'upstream_timeout' }],
    ['a body dripping past the timeout', { fault: { kind: 'drip', ms: 40, bytes: 8 } }, { statusCode: 504, code: 'upstream_timeout' }],
    ['malformed JSON in a 200', { fault: { kind: 'malformed' } }, { statusCode: 502, code: 'upstream_malformed_response' }],
    ['a body cut off half way', { fault: { kind: 'truncated' } }, { statusCode: 502 }],
    ['a 200 of the wrong shape', { respond: () => ({ hello: 'world' }) }, { statusCode: 502, code: 'upstream_malformed_response' }],
  ];
  for (const [name, behaviour, expected] of retryable) {
    test(`${name} is a retryable failure`, async () => {
      up.setBehaviour(behaviour);
      await assert.rejects(chat(engine, model), { name: 'EngineError', retryable: true, ...expected });
      // The pool recovers: the next call on the same engine succeeds.
      up.setBehaviour({});
      assert.equal((await chat(engine, model, 'again')).status_code, 200);
    });
  }

  test('Retry-After as an HTTP date is honoured', async () => {
    up.setBehaviour({ fault: { kind: 'status', status: 429, retryAfter: inAnHour } });
    await assert.rejects(chat(engine, model), (e: EngineError) => e.retryAfterMs! > 3_000_000 && e.retryAfterMs! <= 3_600_000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter(new Date(now + 5000).toUTCString(), now), 5000);
    assert.equal(parseRetryAfter(new Date(now - 5000).toUTCString(), now), 0);
    assert.equal(parseRetryAfter('1.5', now), 1500);
    assert.equal(parseRetryAfter('soon', now), null);
  });

  test('a slow drip that finishes within the timeout succeeds', async () => {
    up.setBehaviour({ fault: { kind: 'drip', ms: 1, bytes: 64 } });
    assert.equal((await chat(engine, model, 'slow')).status_code, 200);
  });

  test('a refused connection is retryable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const m = entry(`http://127.0.0.1:${port}/v1`);
    const e = createOpenAiEngine(m, { requestTimeoutMs: 300 });
    await assert.rejects(chat(e, m), { name: 'EngineError', retryable: true, statusCode: 502, code: 'upstream_unreachable' });
    await e.close();
  });

  const final: [string, Behaviour, unknown][] = [
    [
      '400 with a JSON body',
      { fault: { kind: 'status', status: 400, body: { object: 'error', message: 'context too long', type: 'invalid_request_error' } } },
      { object: 'error', message: 'context too long', type: 'invalid_request_error' },
    ],
    [
      '401 with a text body',
      { fault: { kind: 'status', status: 401, body: 'Unauthorized' } },
      { object: 'error', message: 'Unauthorized', type: 'upstream_error', param: null, code: null },
    ],
    ['404', { fault: { kind: 'status', status: 404, body: { error: { message: 'model not found' } } } }, { error: { message: 'model not found' } }],
    [
      '422',
      { fault: { kind: 'status', status: 422, body: { detail: [{ loc: ['body', 'x'], msg: 'bad', type: 'value_error' }] } } },
      { detail: [{ loc: ['body', 'x'], msg: 'bad', type: 'value_error' }] },
    ],
  ];
  for (const [name, behaviour, body] of final) {
    test(`${name} is final and keeps the upstream's status and body`, async () => {
      up.setBehaviour(behaviour);
      const status = (behaviour.fault as { status: number }).status;
      await assert.rejects(chat(engine, model), {
        name: 'EngineError',
        retryable: false,
        statusCode: status,
        body,
        code: 'upstream_rejected',
        retryAfterMs: null,
      });
    });
  }

  test('an abort cancels the request at once, is an AbortError and not an upstream failure', async () => {
    up.setBehaviour({ fault: { kind: 'hang' } });
    const ac = new AbortController();
    const p = chat(engine, model, 'x', ac.signal);
    await until(() => up.stats.inFlight === 1);
    ac.abort(new Error('cancelled by test'));
    await assert.rejects(p, (e: Error) => e.name === 'AbortError' && !(e instanceof EngineError) && (e.cause as Error).message === 'cancelled by test');
    // The upstream sees the connection go: the hung request is no longer being served.
    await until(() => up.stats.inFlight === 0);
    const plain = new AbortController();
    const q = chat(engine, model, 'y', plain.signal);
    await until(() => up.stats.inFlight === 1);
    plain.abort();
    await assert.rejects(q, { name: 'AbortError' });
  });

  test('an already-aborted signal makes no call; one signal can cancel many requests', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(chat(engine, model, 'x', ac.signal), { name: 'AbortError' });
    assert.equal(up.stats.total, 0);
    up.setBehaviour({ fault: { kind: 'hang' } });
    const shared = new AbortController();
    const many = Array.from({ length: 20 }, (_, i) => chat(engine, model, `m${i}`, shared.signal));
    await until(() => up.stats.inFlight === 4);
    shared.abort();
    const results = await Promise.allSettled(many);
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as Error).name === 'AbortError'));
    assert.equal(up.stats.total, 4, 'queued requests were dropped without reaching the upstream');
  });
});

describe('fake upstream scripting', () => {
  const faultsOf = async (rules: Rule[], n: number, seed = 7) => {
    const up = await startFakeUpstream({ seed });
    const m = entry(up.url, 1);
    const e = createOpenAiEngine(m, { requestTimeoutMs: 300 });
    up.setBehaviour({ rules });
    const outcomes: string[] = [];
    for (let i = 1; i <= n; i++)
      outcomes.push(
        await chat(e, m, `line ${i}`).then(
          () => 'ok',
          (err: EngineError) => String(err.statusCode),
        ),
      );
    await e.close();
    await up.close();
    return outcomes;
  };

  test('rules match by call number, by marker (a limited number of times), first match wins', async () => {
    const out = await faultsOf(
      [
        { call: [1, 3], fault: { kind: 'status', status: 500 } },
        { call: { from: 5, to: 6 }, fault: { kind: 'status', status: 503 } },
        { marker: 'line 2', fault: { kind: 'status', status: 400 } },
        { marker: /line \d$/, fault: { kind: 'status', status: 429 }, times: 2 },
      ],
      9,
    );
    assert.deepEqual(out, ['500', '400', '500', '429', '503', '503', '429', 'ok', 'ok']);
  });

  test('probability rules are reproducible for a seed', async () => {
    const rules: Rule[] = [{ probability: 0.3, fault: { kind: 'status', status: 502 } }];
    const a = await faultsOf(rules, 40, 11);
    assert.deepEqual(await faultsOf(rules, 40, 11), a);
    const failed = a.filter((o) => o === '502').length;
    assert.ok(failed > 0 && failed < 40, `${failed} of 40 failed`);
  });

  test('a concurrency limit queues excess requests; record:false counts without keeping calls', async () => {
    const up = await startFakeUpstream({ maxConcurrent: 2, latencyMs: 3, record: false });
    const m = entry(up.url, 8);
    const e = createOpenAiEngine(m);
    await Promise.all(Array.from({ length: 16 }, (_, i) => chat(e, m, `c${i}`)));
    assert.deepEqual([up.stats.total, up.stats.maxInFlight, up.stats.inFlight, up.stats.queued, up.calls.length], [16, 2, 0, 0, 0]);
    await e.close();
    await up.close();
  });
});
