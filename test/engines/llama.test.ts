import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import { acquireModel, releaseModel } from '../../src/engines/llama/runtime.js';
import { chatTokens } from '../../src/engines/llama/prompts.js';
import type { Endpoint, Engine, EngineResult } from '../../src/engines/engine.js';
import type { ModelEntry } from '../../src/models/registry.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-llama-'));
const file = path.join(dir, 'tiny.gguf');
const entry = (p: string): ModelEntry => ({
  id: 'tiny', engine: 'llama', path: p, endpoints: [], max_in_flight: 4, input_price_per_mtok: 0, output_price_per_mtok: 0, context_length: 2048,
});
const hello = [{ role: 'user', content: 'What is the best French cheese?' }];

describe('embedded llama.cpp engine on the generated model', () => {
  let engine: Engine;
  const call = (endpoint: Endpoint, body: Record<string, unknown>, priority: 'online' | 'batch' = 'batch', signal = new AbortController().signal) =>
    engine.execute({ endpoint, body: { model: 'tiny', ...body }, model: entry(file), priority }, signal);
  const content = (r: EngineResult) => (r.body.choices as { message: { content: string } }[])[0]!.message.content;

  before(async () => {
    generateTinyModel(file);
    engine = await createLlamaEngine(entry(file), { threads: 1, sequences: 2, contextSize: 1024 });
  });
  after(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the generator writes the same bytes every time', () => {
    const again = path.join(dir, 'again.gguf');
    generateTinyModel(again);
    const digest = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    assert.equal(digest(again), digest(file));
    assert.ok(fs.statSync(file).size < 8 * 1024 * 1024);
  });

  test('chat answers in Mistral shape with real usage counts', async () => {
    const res = await call('/v1/chat/completions', { messages: hello, max_tokens: 12, temperature: 0 });
    assert.equal(res.body.object, 'chat.completion');
    assert.equal(res.body.model, 'tiny');
    const choice = (res.body.choices as { message: { role: string }; finish_reason: string }[])[0]!;
    assert.equal(choice.message.role, 'assistant');
    assert.match(content(res), /^[\x20-\x7e]+$/, 'readable text, no broken bytes');
    const model = await acquireModel(file);
    try {
      assert.equal(res.usage.prompt_tokens, chatTokens(model, hello).length, 'prompt tokens are the tokenizer\'s count of the formatted prompt');
    } finally {
      await releaseModel(file);
    }
    assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
  });

  test('max_tokens bounds the completion and ends it with finish_reason length', async () => {
    const res = await call('/v1/chat/completions', { messages: hello, max_tokens: 7, temperature: 0 });
    assert.equal(res.usage.completion_tokens, 7);
    assert.equal((res.body.choices as { finish_reason: string }[])[0]!.finish_reason, 'length');
  });

  test('temperature 0, or a random_seed with temperature 0.8, gives the same text every time', async () => {
    const greedy = [await call('/v1/chat/completions', { messages: hello, max_tokens: 20, temperature: 0 }), await call('/v1/chat/completions', { messages: hello, max_tokens: 20, temperature: 0 })];
    assert.equal(content(greedy[0]!), content(greedy[1]!));
    const seeded = (seed: number) => call('/v1/chat/completions', { messages: hello, max_tokens: 20, temperature: 0.8, random_seed: seed });
    assert.equal(content(await seeded(7)), content(await seeded(7)));
  });

  test('a stop string ends the completion and is not included', async () => {
    const full = content(await call('/v1/chat/completions', { messages: hello, max_tokens: 20, temperature: 0 }));
    const word = full.split(' ')[2]!;
    const res = await call('/v1/chat/completions', { messages: hello, max_tokens: 20, temperature: 0, stop: [` ${word}`] });
    assert.equal(content(res), full.slice(0, full.indexOf(` ${word}`)));
    assert.equal((res.body.choices as { finish_reason: string }[])[0]!.finish_reason, 'stop');
  });

  test('FIM completes between a prompt and a suffix', async () => {
    const res = await call('/v1/fim/completions', { prompt: 'def add(a, b):', suffix: 'return c', max_tokens: 5, temperature: 0 });
    assert.equal(res.usage.completion_tokens, 5);
    assert.equal(typeof content(res), 'string');
  });

  test('embeddings are normalised, deterministic and honour output_dimension', async () => {
    const a = await call('/v1/embeddings', { input: ['hello world', 'batch request'] });
    const b = await call('/v1/embeddings', { input: 'hello world', output_dimension: 16 });
    const data = a.body.data as { embedding: number[]; index: number }[];
    assert.deepEqual(data.map((d) => d.index), [0, 1]);
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm(data[0]!.embedding) - 1) < 1e-6);
    const short = (b.body.data as { embedding: number[] }[])[0]!.embedding;
    assert.equal(short.length, 16);
    assert.ok(Math.abs(norm(short) - 1) < 1e-6);
    const again = await call('/v1/embeddings', { input: ['hello world'] });
    assert.deepEqual((again.body.data as { embedding: number[] }[])[0]!.embedding, data[0]!.embedding);
    assert.ok(a.usage.prompt_tokens > 0);
    assert.equal(a.usage.completion_tokens, 0);
  });

  test('moderation scores all nine categories from the model\'s token probabilities', async () => {
    const res = await call('/v1/moderations', { input: ['I will hurt you', 'good morning'] });
    const results = res.body.results as { categories: Record<string, boolean>; category_scores: Record<string, number> }[];
    assert.equal(results.length, 2);
    for (const r of results) {
      assert.equal(Object.keys(r.category_scores).length, 9);
      for (const [k, v] of Object.entries(r.category_scores)) {
        assert.ok(v >= 0 && v <= 1, `${k}=${v}`);
        assert.equal(r.categories[k], v >= 0.5);
      }
    }
    assert.notDeepEqual(results[0]!.category_scores, results[1]!.category_scores, 'scores depend on the text');
  });

  test('many concurrent requests share the sequences and all complete', async () => {
    const all = await Promise.all(Array.from({ length: 24 }, (_, i) => call('/v1/chat/completions', { messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 6, temperature: 0 })));
    assert.equal(all.length, 24);
    assert.ok(all.every((r) => r.usage.completion_tokens === 6));
  });

  test('an online request goes ahead of queued batch requests', async () => {
    const finished: string[] = [];
    const req = (label: string, priority: 'online' | 'batch') =>
      call('/v1/chat/completions', { messages: hello, max_tokens: 40, temperature: 0 }, priority).then(() => finished.push(label));
    const batch = Array.from({ length: 8 }, (_, i) => req(`batch${i}`, 'batch'));
    await new Promise((r) => setImmediate(r));
    const online = req('online', 'online');
    await Promise.all([...batch, online]);
    assert.ok(finished.indexOf('online') < 5, `online finished at position ${finished.indexOf('online')} of ${finished.join(',')}`);
  });

  test('an abort stops generation and frees the sequence', async () => {
    const ac = new AbortController();
    const p = call('/v1/chat/completions', { messages: hello, max_tokens: 1000, temperature: 0 }, 'batch', ac.signal);
    setTimeout(() => ac.abort(new Error('stop')), 5);
    await assert.rejects(p, /stop/);
    const res = await call('/v1/chat/completions', { messages: hello, max_tokens: 3, temperature: 0 });
    assert.equal(res.usage.completion_tokens, 3);
  });

  test('a bad request is refused with the field named', async () => {
    await assert.rejects(call('/v1/chat/completions', { messages: 'nope' }), (e: Error & { statusCode?: number; body?: { param?: string } }) => e.statusCode === 422 && e.body?.param === 'messages');
    await assert.rejects(call('/v1/chat/completions', { messages: hello, temperature: 5 }), (e: Error & { body?: { param?: string } }) => e.body?.param === 'temperature');
  });

  test('a missing or corrupt model file gives an error naming the file', async () => {
    const missing = path.join(dir, 'missing.gguf');
    await assert.rejects(createLlamaEngine(entry(missing), { threads: 1, sequences: 1, contextSize: 256 }), new RegExp(`${missing}.*does not exist`));
    const junk = path.join(dir, 'junk.gguf');
    fs.writeFileSync(junk, 'this is not a model');
    await assert.rejects(createLlamaEngine(entry(junk), { threads: 1, sequences: 1, contextSize: 256 }), new RegExp(`${junk}.*not a GGUF`));
    const truncated = path.join(dir, 'truncated.gguf');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 200_000));
    await assert.rejects(createLlamaEngine(entry(truncated), { threads: 1, sequences: 1, contextSize: 256 }), new RegExp(`${truncated}.*(truncated|corrupt)`));
  });
});
