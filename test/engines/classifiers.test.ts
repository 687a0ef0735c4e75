import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Mistral } from '@mistralai/mistralai';
import { HTTPValidationError } from '@mistralai/mistralai/models/errors';
import type { LlamaModel } from 'node-llama-cpp';
import { loadModelFile } from '../../src/engines/llama/runtime.js';
import { createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import { createEchoEngine } from '../../src/engines/echo.js';
import { labelsOf, type ClassifierTarget } from '../../src/engines/classification.js';
import { guardSystemPrompt, parseGuardAnswer } from '../../src/engines/moderation-guard.js';
import { MODERATION_CATEGORIES } from '../../src/engines/moderation.js';
import type { ModelEntry } from '../../src/models/registry.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { runTwoLineJob } from '../helpers/sdk-jobs.js';
import { jsonl, startTestServer, upstreamModels, waitForJob, jsonlBytes, type TestServer } from '../helpers/server.js';

/** Targets in Mistral's `classifier_targets` shape, as a fine-tuned classifier model has them. */
const TARGETS: ClassifierTarget[] = [
  { name: 'sentiment', labels: ['positive', 'neutral', 'negative'], loss_function: 'single_class' },
  { name: 'topic', labels: ['sports', { name: 'politics', meaning: 'talk about politics' }, 'negative'], loss_function: 'multi_class' },
];
const withTargets = (entry: Omit<ModelEntry, 'endpoints' | 'max_in_flight' | 'input_price_per_mtok' | 'output_price_per_mtok' | 'context_length'>) =>
  ({
    endpoints: ['/v1/classifications'],
    max_in_flight: 4,
    input_price_per_mtok: 0,
    output_price_per_mtok: 0,
    context_length: 1024,
    ...entry,
    classifier_targets: TARGETS,
  }) as ModelEntry;

/** A fine-tuned classifier's result: each target with its labels; single_class scores sum to 1. */
function assertTargets(result: TargetScores) {
  assert.deepEqual(Object.keys(result), ['sentiment', 'topic']);
  assert.deepEqual(Object.keys(result.sentiment!.scores), ['positive', 'neutral', 'negative']);
  assert.deepEqual(Object.keys(result.topic!.scores), ['sports', 'politics', 'negative']);
  const sum = Object.values(result.sentiment!.scores).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-9, `sentiment scores sum to ${sum}`);
  for (const t of Object.values(result)) for (const p of Object.values(t.scores)) assert.ok(p >= 0 && p <= 1);
}

const CLASSIFIER_ENDPOINTS = ['/v1/moderations', '/v1/chat/moderations', '/v1/classifications', '/v1/chat/classifications'];

type TargetScores = Record<string, { scores: Record<string, number> }>;

/** Mistral's ClassificationResponse result for a moderation model: one `moderation` target, the nine categories as labels, scores in [0,1]. */
function assertModerationTarget(result: TargetScores) {
  assert.deepEqual(Object.keys(result), ['moderation']);
  const scores = result.moderation!.scores;
  assert.deepEqual(Object.keys(scores).sort(), [...MODERATION_CATEGORIES].sort());
  for (const [label, p] of Object.entries(scores)) assert.ok(typeof p === 'number' && p >= 0 && p <= 1, `${label}: ${p}`);
}

describe('classifier endpoints on the embedded engine, through the official SDK', () => {
  let server: TestServer;
  let client: Mistral;
  let tokenizer: LlamaModel;
  const tokens = (text: string) => tokenizer.tokenize(text, false).length;

  before(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-classifiers-'));
    // The generated default model, under the moderation model's id with all four classifier endpoints,
    // and under "Camry", the model of the SDK's documented classifyChat snippet.
    const gguf = path.join(dataDir, 'models', 'batchd-tiny.gguf');
    const entry = (id: string) => ({ id, engine: 'llama', path: gguf, endpoints: CLASSIFIER_ENDPOINTS });
    server = await startTestServer({
      dataDir,
      models: { models: [entry('mistral-moderation-latest'), entry('Camry')] },
      env: { BATCHD_LLAMA_SEQUENCES: '4', BATCHD_LLAMA_CONTEXT: '1024' },
    });
    client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
    // The model file's own tokenizer, loaded apart from the engine: the count usage must report.
    tokenizer = await loadModelFile(gguf);
  });
  after(async () => {
    await tokenizer.dispose();
    await server.stop();
  });

  test('classifiers.classify (the SDK documented snippet) answers one moderation target per input', async () => {
    // docs/sdks/classifiers/README.md, "classify", as documented.
    const result = await client.classifiers.classify({
      model: 'mistral-moderation-latest',
      inputs: ['<value 1>', '<value 2>', '<value 3>'],
    });
    assert.equal(result.model, 'mistral-moderation-latest');
    assert.match(result.id, /^[0-9a-f]{32}$/);
    assert.equal(result.results.length, 3);
    for (const r of result.results) assertModerationTarget(r);
    const one = await client.classifiers.classify({ model: 'mistral-moderation-latest', inputs: 'a single string' });
    assert.equal(one.results.length, 1);
  });

  test('a text scores the same on /v1/classifications as on /v1/moderations (one guard, same questions)', async () => {
    const text = 'I will find where you live.';
    const cls = await client.classifiers.classify({ model: 'mistral-moderation-latest', inputs: [text] });
    const mod = await client.classifiers.moderate({ model: 'mistral-moderation-latest', inputs: [text] });
    const scores = cls.results[0]!.moderation!.scores;
    for (const c of MODERATION_CATEGORIES) assert.ok(Math.abs(scores[c]! - mod.results[0]!.categoryScores![c]!) < 1e-3, c);
  });

  test('classifiers.classifyChat (the SDK documented snippet) and its single-conversation form', async () => {
    // docs/sdks/classifiers/README.md, "classifyChat", as documented (model "Camry", a system message).
    const result = await client.classifiers.classifyChat({
      model: 'Camry',
      input: [{ messages: [{ role: 'system', content: '<value>' }] }],
    });
    assert.equal(result.model, 'Camry');
    assert.equal(result.results.length, 1);
    assertModerationTarget(result.results[0]!);
    const single = await client.classifiers.classifyChat({
      model: 'mistral-moderation-latest',
      input: {
        messages: [
          { role: 'user', content: 'hello' },
          { role: 'assistant', content: 'hi, how can I help?' },
        ],
      },
    });
    assert.equal(single.results.length, 1);
    const two = await client.classifiers.classifyChat({
      model: 'mistral-moderation-latest',
      input: [{ messages: [{ role: 'user', content: 'a' }] }, { messages: [{ role: 'user', content: 'b' }] }],
    });
    assert.equal(two.results.length, 2);
    for (const r of two.results) assertModerationTarget(r);
  });

  test('usage.prompt_tokens counts the input text, not the guard prompt built around it', async () => {
    const texts = ['The quick brown fox jumps over the lazy dog.', 'Call me at 555-0100 tomorrow.'];
    const expected = tokens(texts[0]!) + tokens(texts[1]!);
    for (const endpoint of ['/v1/moderations', '/v1/classifications']) {
      const res = await server.request('POST', endpoint, { model: 'mistral-moderation-latest', input: texts });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.usage, { prompt_tokens: expected, completion_tokens: 0, total_tokens: expected, request_count: 2 }, endpoint);
    }
    // A conversation counts as the guard reads it: one `role: text` line per message.
    const chat = await server.request('POST', '/v1/chat/moderations', {
      model: 'mistral-moderation-latest',
      input: [
        { role: 'user', content: 'hi there' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    assert.equal(chat.body.usage.prompt_tokens, tokens('user: hi there\nassistant: hello'));
    const chatCls = await server.request('POST', '/v1/chat/classifications', {
      model: 'mistral-moderation-latest',
      input: { messages: [{ role: 'user', content: 'hi there' }] },
    });
    assert.equal(chatCls.body.usage.prompt_tokens, tokens('user: hi there'));
  });

  test('a /v1/classifications batch job from a file succeeds; the output file holds the shape, the job counts the input tokens', async () => {
    const inputs = [['first text to classify'], ['second one', 'and a third']];
    const lines = inputs.map((input, i) => ({ custom_id: `c${i}`, body: { input } }));
    const file = await client.files.upload({ file: { fileName: 'classify.jsonl', content: jsonlBytes(lines) }, purpose: 'batch' });
    const created = await client.batch.jobs.create({ inputFiles: [file.id], model: 'mistral-moderation-latest', endpoint: '/v1/classifications' });
    const job = await waitForJob(server, created.id);
    assert.equal(job.status, 'SUCCESS');
    assert.equal(job.succeeded_requests, 2);
    const stream = await client.files.download({ fileId: job.output_file });
    const out = jsonl(await new Response(stream).text());
    assert.deepEqual(
      out.map((l) => l.custom_id),
      ['c0', 'c1'],
    );
    for (const [i, line] of out.entries()) {
      assert.equal(line.response.status_code, 200);
      assert.equal(line.response.body.model, 'mistral-moderation-latest');
      assert.equal(line.response.body.results.length, inputs[i]!.length);
      for (const r of line.response.body.results) assertModerationTarget(r);
    }
    const expected = inputs.flat().reduce((n, t) => n + tokens(t), 0);
    assert.equal(job.usage.prompt_tokens, expected);
    assert.equal(job.usage.completion_tokens, 0);
  });

  test('a /v1/chat/classifications batch: a good line succeeds, a malformed one fails with 422 naming the field', async () => {
    const job = await client.batch.jobs.create({
      model: 'mistral-moderation-latest',
      endpoint: '/v1/chat/classifications',
      requests: [
        { customId: 'good', body: { input: [{ messages: [{ role: 'user', content: 'hello' }] }] } },
        { customId: 'bad', body: { input: [{ conversation: [] }] } },
      ],
    });
    const done = await waitForJob(server, job.id);
    assert.deepEqual([done.succeeded_requests, done.failed_requests], [1, 1]);
    assertModerationTarget(done.outputs.find((o: { custom_id: string }) => o.custom_id === 'good').response.body.results[0]);
    const bad = jsonl(await new Response(await client.files.download({ fileId: done.error_file })).text())[0]!;
    assert.equal(bad.response.status_code, 422);
    assert.match(JSON.stringify(bad.response.body), /input\.0\.messages/);
  });

  test('a model with its own classifier targets answers each target, on the same guard', async () => {
    const engine = await createLlamaEngine(
      withTargets({ id: 'my-classifier', engine: 'llama', path: path.join(server.dataDir, 'models', 'batchd-tiny.gguf') }),
    );
    try {
      const res = await engine.execute(
        {
          endpoint: '/v1/classifications',
          body: { model: 'my-classifier', input: ['What a match!', 'Vote on Sunday.'] },
          model: withTargets({ id: 'my-classifier', engine: 'llama' }),
          priority: 'online',
        },
        new AbortController().signal,
      );
      const results = res.body.results as TargetScores[];
      assert.equal(results.length, 2);
      for (const r of results) assertTargets(r);
      assert.equal(res.usage.prompt_tokens, tokens('What a match!') + tokens('Vote on Sunday.'));
    } finally {
      await engine.close();
    }
  });

  test('invalid input is a 422 naming the field, as Mistral answers', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['/v1/classifications', {}, 'input'],
      ['/v1/classifications', { input: 42 }, 'input'],
      ['/v1/classifications', { input: [] }, 'input'],
      ['/v1/classifications', { input: ['ok', 7] }, 'input.1'],
      ['/v1/chat/classifications', {}, 'input'],
      ['/v1/chat/classifications', { input: 'text' }, 'input'],
      ['/v1/chat/classifications', { input: [{}] }, 'input.0.messages'],
      ['/v1/chat/classifications', { input: { messages: [] } }, 'input.messages'],
      ['/v1/chat/classifications', { input: { messages: [{ role: 'robot', content: 'x' }] } }, 'input.messages.0.role'],
      ['/v1/chat/classifications', { input: { messages: [{ role: 'user', content: 5 }] } }, 'input.messages.0.content'],
      ['/v1/moderations', { input: null }, 'input'],
      ['/v1/chat/moderations', { input: 'not a conversation' }, 'input'],
      ['/v1/chat/moderations', { input: [[{ role: 'user', content: 'a' }], [{ content: 'no role' }]] }, 'input.1.0.role'],
    ];
    for (const [endpoint, body, field] of cases) {
      const res = await server.request('POST', endpoint, { model: 'mistral-moderation-latest', ...body });
      const what = `${endpoint} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`;
      assert.equal(res.status, 422, what);
      assert.equal(res.body.param, field, what);
      assert.deepEqual(res.body.detail[0].loc, ['body', field], what);
      assert.match(res.body.message, new RegExp(`^${field.replace(/\./g, '\\.')}: `), what);
    }
    // The SDK reads it as its HTTPValidationError, with the detail parsed.
    await assert.rejects(client.classifiers.classify({ model: 'mistral-moderation-latest', inputs: [] }), (e: unknown) => {
      assert.ok(e instanceof HTTPValidationError, String(e));
      assert.deepEqual(e.detail?.[0]?.loc, ['body', 'input']);
      return true;
    });
  });
});

describe('classifier endpoints on upstream engines, against the fake upstream', () => {
  let up: FakeUpstream;
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    up = await startFakeUpstream();
    server = await startTestServer({ models: upstreamModels(up.url, { endpoints: CLASSIFIER_ENDPOINTS }) });
    client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
  });
  after(async () => {
    await server.stop();
    await up.close();
  });

  test("openai engine: classify asks the chat model as a guard, one call per text, and answers Mistral's shape", async () => {
    const before = up.calls.length;
    const res = await client.classifiers.classify({ model: 'up-openai', inputs: ['I will kill the process', 'nice weather'] });
    const calls = up.calls.slice(before);
    assert.deepEqual(
      calls.map((c) => c.path),
      ['/v1/chat/completions', '/v1/chat/completions'],
    );
    assert.equal(calls[0]!.body.model, 'served');
    assert.match(String((calls[0]!.body.messages as { content: string }[])[0]!.content), /- violence_and_threats: /);
    assert.equal(res.model, 'up-openai');
    assert.equal(res.results.length, 2);
    for (const r of res.results) assertModerationTarget(r);
    assert.equal(res.results[0]!.moderation!.scores.violence_and_threats, 0.9);
    assert.equal(res.results[1]!.moderation!.scores.violence_and_threats, 0.01);
    const chat = await client.classifiers.classifyChat({
      model: 'up-openai',
      input: [{ messages: [{ role: 'user', content: 'kill it' }] }, { messages: [{ role: 'user', content: 'fine' }] }],
    });
    assert.deepEqual(
      chat.results.map((r) => r.moderation!.scores.violence_and_threats),
      [0.9, 0.01],
    );
    assert.match(up.calls.at(-2)!.text, /user: kill it/);
  });

  test("openai engine: usage counts the input text's share of the guard prompt, not the whole guard prompt", async () => {
    const text = 'one two three four five six seven eight nine ten eleven twelve';
    for (const endpoint of ['/v1/moderations', '/v1/classifications']) {
      const res = await server.request('POST', endpoint, { model: 'up-openai', input: text });
      assert.equal(res.status, 200);
      const guardPrompt = (up.calls.at(-1)!.body.messages as { content: string }[]).reduce((n, m) => n + (m.content.match(/\S+/g) ?? []).length, 0);
      const { prompt_tokens, completion_tokens, total_tokens } = res.body.usage;
      assert.equal(completion_tokens, 0);
      assert.equal(total_tokens, prompt_tokens);
      // The fake counts a word a token: the whole guard prompt is ~10x the text; the estimate lands near the text's 12.
      assert.ok(guardPrompt > 5 * 12, `guard prompt of ${guardPrompt} words`);
      assert.ok(prompt_tokens >= 6 && prompt_tokens <= 24, `${endpoint}: ${prompt_tokens} tokens for a 12-word input`);
    }
  });

  test('mistral engine: classifications are forwarded unchanged but for the model name', async () => {
    const res = await client.classifiers.classify({ model: 'up-mistral', inputs: ['kill', 'calm'] });
    const sent = up.calls.at(-1)!;
    assert.equal(sent.path, '/v1/classifications');
    assert.equal(sent.body.model, 'up-mistral');
    assert.deepEqual(sent.body.input, ['kill', 'calm']);
    assert.equal(res.model, 'up-mistral');
    assert.deepEqual(
      res.results.map((r) => r.moderation!.scores.violence_and_threats),
      [0.9, 0.01],
    );
    const chat = await client.classifiers.classifyChat({ model: 'up-mistral', input: { messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(up.calls.at(-1)!.path, '/v1/chat/classifications');
    assert.equal(chat.results.length, 1);
  });

  test('a /v1/chat/classifications batch job runs on the openai engine', async () => {
    const body = { input: { messages: [{ role: 'user', content: 'kill the lights' }] } };
    const done = await runTwoLineJob(client, server, 'up-openai', '/v1/chat/classifications', body);
    assertModerationTarget(done.outputs[0].response.body.results[0]);
    assert.ok(done.usage.prompt_tokens > 0);
  });
});

describe('classifier targets beyond moderation', () => {
  test('the echo engine answers every target of the model, nothing flagged, usage in words', async () => {
    const engine = createEchoEngine(withTargets({ id: 'echo-classifier', engine: 'echo' }));
    const model = withTargets({ id: 'echo-classifier', engine: 'echo' });
    const res = await engine.execute(
      { endpoint: '/v1/classifications', body: { model: 'echo-classifier', input: 'three words here' }, model, priority: 'batch' },
      new AbortController().signal,
    );
    assertTargets((res.body.results as TargetScores[])[0]!);
    assert.deepEqual((res.body.results as TargetScores[])[0]!.topic!.scores, { sports: 0, politics: 0, negative: 0 });
    assert.deepEqual(res.usage, { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 });
  });

  test('an upstream guard is asked for `target.label` keys where targets share a label, and may answer flat or nested', () => {
    const labels = labelsOf(TARGETS);
    const prompt = guardSystemPrompt(labels);
    assert.match(prompt, /^- sentiment\.negative: content whose sentiment is "negative"$/m);
    assert.match(prompt, /^- topic\.politics: talk about politics$/m);
    const flat = parseGuardAnswer('{"sentiment.positive": 0.7, "topic.negative": "yes", "Topic Sports": 0.2}', labels);
    assert.deepEqual(flat, [0.7, 0, 0, 0.2, 0, 1]);
    const nested = parseGuardAnswer('Sure: {"sentiment": {"scores": {"neutral": 0.4}}, "topic": {"politics": true}}', labels);
    assert.deepEqual(nested, [0, 0.4, 0, 0, 1, 0]);
  });
});
