import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { createOpenAiEngine } from '../../src/engines/openai/openai-engine.js';
import { EngineError, type Endpoint, type Engine } from '../../src/engines/engine.js';
import { parseGuardScores } from '../../src/engines/moderation-guard.js';
import { MODERATION_CATEGORIES } from '../../src/engines/moderation.js';
import type { ModelEntry } from '../../src/models/registry.js';

const entry = (url: string, engine: 'openai' | 'mistral', extra: Partial<ModelEntry> = {}): ModelEntry => ({
  id: 'client-model',
  engine,
  url,
  upstream_model: 'served-model',
  endpoints: ['/v1/chat/completions'],
  max_in_flight: 4,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: 2048,
  ...extra,
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

type Choice = {
  message: { role: string; content: string | null; tool_calls: { id: string; function: { name: string; arguments: string } }[] | null };
  finish_reason: string;
};
type ModerationResult = { categories: Record<string, boolean>; category_scores: Record<string, number> };

describe('openai-compatible engine: translation', () => {
  let up: FakeUpstream;
  let model: ModelEntry;
  let engine: Engine;
  before(async () => {
    up = await startFakeUpstream();
    model = entry(up.url, 'openai');
    engine = createOpenAiEngine(model, { requestTimeoutMs: 2000 });
  });
  after(async () => {
    await engine.close();
    await up.close();
  });
  beforeEach(() => up.setBehaviour({}));

  test('chat: Mistral fields become OpenAI ones, Mistral-only fields are dropped', async () => {
    await run(engine, model, '/v1/chat/completions', {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'look' },
            { type: 'image_url', image_url: 'http://x/y.png' },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 't1', function: { name: 'f', arguments: { a: 1 } } }] },
        { role: 'user', content: 'hello there' },
        { role: 'assistant', content: 'Sure:', prefix: true },
      ],
      random_seed: 7,
      tool_choice: 'any',
      safe_prompt: true,
      prompt_mode: 'reasoning',
      metadata: { k: 'v' },
      max_tokens: 9,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['\n'],
      n: 2,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
    });
    const sent = up.calls.at(-1)!;
    assert.equal(sent.path, '/v1/chat/completions');
    const b = sent.body;
    assert.equal(b.model, 'served-model');
    assert.equal(b.seed, 7);
    assert.equal(b.tool_choice, 'required');
    assert.equal(b.stream, false);
    for (const [k, v] of Object.entries({ max_tokens: 9, temperature: 0.2, top_p: 0.9, n: 2, presence_penalty: 0.1, frequency_penalty: 0.2 }))
      assert.equal(b[k], v, k);
    assert.deepEqual(b.stop, ['\n']);
    assert.deepEqual(b.response_format, { type: 'json_object' });
    assert.equal((b.tools as unknown[]).length, 1);
    for (const k of ['safe_prompt', 'prompt_mode', 'metadata', 'random_seed']) assert.equal(k in b, false, k);
    const msgs = b.messages as { content: unknown; tool_calls?: { function: { arguments: unknown } }[] }[];
    assert.deepEqual((msgs[0]!.content as unknown[])[1], { type: 'image_url', image_url: { url: 'http://x/y.png' } });
    assert.equal(msgs[1]!.tool_calls![0]!.function.arguments, '{"a":1}');
    assert.equal('prefix' in msgs[3]!, false);
  });

  test('chat: the response is in Mistral shape with the client-facing model name and complete usage', async () => {
    const res = await run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hello there' }] });
    assert.equal(res.body.model, 'client-model');
    assert.equal(res.body.object, 'chat.completion');
    assert.equal(typeof res.body.created, 'number');
    const choice = (res.body.choices as Choice[])[0]!;
    assert.deepEqual([choice.message.role, choice.message.content, choice.finish_reason], ['assistant', 'reply: hello there', 'stop']);
    assert.deepEqual(res.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
    assert.deepEqual(res.body.usage, res.usage);
  });

  test('chat: tool calls come back with string arguments; a missing total or usage is computed', async () => {
    up.setBehaviour({
      respond: () => ({
        id: 'c1',
        created: 1,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get', arguments: '{"q":1}' } }] },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 4, completion_tokens: 6 },
      }),
    });
    const res = await run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] });
    const choice = (res.body.choices as Choice[])[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.deepEqual(choice.message.tool_calls![0]!.function, { name: 'get', arguments: '{"q":1}' });
    assert.equal(choice.message.tool_calls![0]!.id, 'call_1');
    assert.equal(res.usage.total_tokens, 10);
    up.setBehaviour({ respond: () => ({ choices: [{ message: { content: 'hi' } }] }) });
    const bare = await run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] });
    assert.deepEqual(bare.body.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    assert.equal(typeof bare.body.id, 'string');
  });

  test('FIM goes to /v1/completions with prompt, suffix and sampling fields, and comes back as a chat completion', async () => {
    const res = await run(engine, model, '/v1/fim/completions', {
      prompt: 'def f(',
      suffix: 'return x',
      random_seed: 1,
      max_tokens: 5,
      min_tokens: 1,
      stop: ['\n\n'],
      temperature: 0,
      top_p: 1,
    });
    const sent = up.calls.at(-1)!;
    assert.equal(sent.path, '/v1/completions');
    assert.deepEqual(
      { ...sent.body },
      {
        model: 'served-model',
        prompt: 'def f(',
        suffix: 'return x',
        seed: 1,
        max_tokens: 5,
        min_tokens: 1,
        stop: ['\n\n'],
        temperature: 0,
        top_p: 1,
        stream: false,
      },
    );
    const choice = (res.body.choices as Choice[])[0]!;
    assert.equal(choice.message.content, 'fill(def f(|return x)');
    assert.equal(res.body.object, 'chat.completion');
    assert.equal(res.body.model, 'client-model');
    await run(engine, model, '/v1/fim/completions', { prompt: 'a', suffix: '' });
    assert.equal('suffix' in up.calls.at(-1)!.body, false, 'an empty suffix is not sent');
  });

  test('FIM with a fim_template (servers without `suffix`, like vLLM) sends one prompt built from the template', async () => {
    const templated = entry(up.url, 'openai', { fim_template: '<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>' });
    const fim = createOpenAiEngine(templated, { requestTimeoutMs: 2000 });
    try {
      // A placeholder inside the user's text stays text: the template is filled in one pass.
      await run(fim, templated, '/v1/fim/completions', { prompt: 'def f({suffix}', suffix: 'return x', max_tokens: 5 });
      const sent = up.calls.at(-1)!;
      assert.equal(sent.path, '/v1/completions');
      assert.deepEqual(
        { ...sent.body },
        { model: 'served-model', prompt: '<|fim_prefix|>def f({suffix}<|fim_suffix|>return x<|fim_middle|>', max_tokens: 5, stream: false },
      );
      await run(fim, templated, '/v1/fim/completions', { prompt: 'a' });
      assert.equal(up.calls.at(-1)!.body.prompt, '<|fim_prefix|>a<|fim_suffix|><|fim_middle|>');
      await rejectsWith(run(fim, templated, '/v1/fim/completions', { prompt: 'a', suffix: 3 }), (e) =>
        assert.equal((e.body as { param: string }).param, 'suffix'),
      );
    } finally {
      await fim.close();
    }
  });

  test('embeddings: output_dimension becomes dimensions; one vector per input; completion_tokens 0', async () => {
    const res = await run(engine, model, '/v1/embeddings', { input: ['a b', 'c'], output_dimension: 8, encoding_format: 'float' });
    const sent = up.calls.at(-1)!;
    assert.deepEqual({ ...sent.body }, { model: 'served-model', input: ['a b', 'c'], dimensions: 8, encoding_format: 'float' });
    assert.equal(res.body.object, 'list');
    assert.equal(res.body.model, 'client-model');
    const data = res.body.data as { object: string; index: number; embedding: number[] }[];
    assert.deepEqual(
      data.map((d) => [d.object, d.index, d.embedding.length]),
      [
        ['embedding', 0, 8],
        ['embedding', 1, 8],
      ],
    );
    assert.deepEqual(res.usage, { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
  });

  test('requests the upstream cannot serve are refused with a 422 before any call', async () => {
    const before = up.calls.length;
    const cases: [Endpoint, Record<string, unknown>, string][] = [
      ['/v1/chat/completions', {}, 'messages'],
      ['/v1/fim/completions', { suffix: 'x' }, 'prompt'],
      ['/v1/embeddings', {}, 'input'],
      ['/v1/embeddings', { input: 'x', output_dtype: 'int8' }, 'output_dtype'],
      ['/v1/moderations', { input: [] }, 'input'],
    ];
    for (const [endpoint, body, param] of cases) {
      await rejectsWith(run(engine, model, endpoint, body), (e) => {
        assert.equal(e.retryable, false);
        assert.equal(e.statusCode, 422);
        assert.equal((e.body as { param: string }).param, param);
      });
    }
    assert.equal(up.calls.length, before);
  });

  test('moderation: one guard call per text, temperature 0 and JSON mode, Mistral shape', async () => {
    const before = up.calls.length;
    const res = await run(engine, model, '/v1/moderations', { input: ['I will kill the process', 'nice weather'] });
    assert.equal(up.calls.length - before, 2);
    const sent = up.calls.at(-1)!;
    assert.equal(sent.path, '/v1/chat/completions');
    assert.equal(sent.body.model, 'served-model');
    assert.equal(sent.body.temperature, 0);
    assert.deepEqual(sent.body.response_format, { type: 'json_object' });
    assert.equal(res.body.model, 'client-model');
    assert.equal(typeof res.body.id, 'string');
    const results = res.body.results as ModerationResult[];
    assert.equal(results.length, 2);
    assert.deepEqual(Object.keys(results[0]!.category_scores).sort(), [...MODERATION_CATEGORIES].sort());
    assert.equal(results[0]!.categories.violence_and_threats, true);
    assert.equal(results[0]!.category_scores.violence_and_threats, 0.9);
    assert.equal(results[1]!.categories.violence_and_threats, false);
    assert.ok(res.usage.prompt_tokens > 0);
  });

  test('chat moderation: one result per conversation', async () => {
    const one = await run(engine, model, '/v1/chat/moderations', {
      input: [
        { role: 'user', content: 'kill it' },
        { role: 'assistant', content: 'no' },
      ],
    });
    assert.equal((one.body.results as unknown[]).length, 1);
    assert.match(up.calls.at(-1)!.text, /user: kill it\nassistant: no/);
    const two = await run(engine, model, '/v1/chat/moderations', { input: [[{ role: 'user', content: 'a' }], [{ role: 'user', content: 'kill' }]] });
    assert.deepEqual(
      (two.body.results as ModerationResult[]).map((r) => r.categories.violence_and_threats),
      [false, true],
    );
  });

  test('moderation: a fenced, chatty guard answer is read; an answer without scores is a clear final error', async () => {
    up.setBehaviour({
      rules: [
        { marker: 'fenced', reply: 'Here you go:\n```json\n{"pii": 0.8, "self-harm": true, "law": 7}\n```\nHope that helps {:' },
        { marker: 'garbage', reply: 'I cannot help with that.' },
      ],
    });
    const res = await run(engine, model, '/v1/moderations', { input: 'fenced' });
    const r = (res.body.results as ModerationResult[])[0]!;
    assert.deepEqual([r.category_scores.pii, r.category_scores.selfharm, r.category_scores.law, r.category_scores.sexual], [0.8, 1, 1, 0]);
    assert.deepEqual([r.categories.pii, r.categories.sexual], [true, false]);
    await rejectsWith(run(engine, model, '/v1/moderations', { input: ['ok', 'garbage'] }), (e) => {
      assert.equal(e.retryable, false);
      assert.equal(e.code, 'guard_unparseable');
      assert.match(e.message, /did not answer with a JSON object of category scores.*I cannot help/);
    });
  });

  test('sequential calls reuse kept-alive connections', async () => {
    const sockets = up.stats.sockets;
    for (let i = 0; i < 50; i++) await run(engine, model, '/v1/chat/completions', { messages: [{ role: 'user', content: `n${i}` }] });
    assert.ok(up.stats.sockets - sockets <= 1, `opened ${up.stats.sockets - sockets} sockets for 50 calls`);
  });

  test('no more than max_in_flight requests reach the upstream at once, and the pool keeps that many sockets', async () => {
    const fresh = await startFakeUpstream({ latencyMs: 5 });
    const m = entry(fresh.url, 'openai', { max_in_flight: 3 });
    const e = createOpenAiEngine(m);
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => run(e, m, '/v1/chat/completions', { messages: [{ role: 'user', content: `c${i}` }] })));
      assert.equal(fresh.stats.total, 30);
      assert.equal(fresh.stats.maxInFlight, 3);
      assert.equal(fresh.stats.sockets, 3);
    } finally {
      await e.close();
      await fresh.close();
    }
  });
});

describe('guard answer parsing', () => {
  test('reads prose around JSON, nested scores, aliases, booleans, strings and out-of-range numbers', () => {
    const s = parseGuardScores(
      'Sure! {"note": "not this"} then {"sexual": true, "Violence": 1.7, "pii": -1, "law": "0.25", "criminal": "yes", "dangerous": 0.2}',
    );
    assert.deepEqual([s.sexual, s.violence_and_threats, s.pii, s.law, s.dangerous_and_criminal_content, s.health], [1, 1, 0, 0.25, 1, 0]);
    assert.equal(parseGuardScores('{"category_scores": {"health": 0.4}}').health, 0.4);
    assert.equal(parseGuardScores('{"financial": "n/a", "note": "a } in a string"}').financial, 0);
  });
  test('no JSON object, or one naming no category, is a final error', () => {
    for (const text of ['I cannot help with that', '{"sexual": 0.5', '{"verdict": "safe"}', '']) {
      assert.throws(
        () => parseGuardScores(text),
        (e: unknown) => e instanceof EngineError && !e.retryable && /category scores/.test(e.message),
        text,
      );
    }
  });
});
