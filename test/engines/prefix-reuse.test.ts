import { after, before, describe, test } from 'node:test';
import { llamaEntry } from '../helpers/generated-models.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LlamaContextSequence } from 'node-llama-cpp';
import { generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import { acquireModel, releaseModel } from '../../src/engines/llama/loaded-model.js';
import { reuseStats } from '../../src/engines/llama/prefix-reuse.js';
import type { SlotPool } from '../../src/engines/llama/sequence-pool.js';
import type { Engine, EngineResult } from '../../src/engines/engine.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-prefix-'));
const base = path.join(dir, 'tiny.gguf');
// One file per engine: engines naming the same file share one pool, these must not.
const withReuse = path.join(dir, 'reuse.gguf');
const withoutReuse = path.join(dir, 'fresh.gguf');
const never = new AbortController().signal;
const entry = (p: string) => llamaEntry(p, 'tiny');

// A long shared system prompt (about 550 tokens on the generated model) and short distinct questions.
const words = 'the river and the mountain near the old city where every story about the sea begins with a letter from a friend'.split(' ');
const system = (seed: number) => Array.from({ length: 500 }, (_, i) => words[(i * 7 + seed) % words.length]).join(' ');
const chat = (sys: string, question: string) => [
  { role: 'system', content: sys },
  { role: 'user', content: question },
];
const QUESTIONS = ['What is the best French cheese?', 'Where does the river go?', 'Tell me about the mountain.', 'Who wrote the letter?'];

/**
 * Tokens llama.cpp evaluated on every sequence of the pool so far, by node-llama-cpp's own
 * meter (it counts a token whose logits are read as output, the others as input).
 */
const evaluated = (pool: SlotPool<LlamaContextSequence>) => pool.all.reduce((n, s) => n + s.tokenMeter.usedInputTokens + s.tokenMeter.usedOutputTokens, 0);

function ask(engine: Engine, file: string, messages: unknown, body: Record<string, unknown> = {}): Promise<EngineResult> {
  return engine.execute(
    { endpoint: '/v1/chat/completions', body: { model: 'tiny', messages, temperature: 0, max_tokens: 16, ...body }, model: entry(file), priority: 'batch' },
    never,
  );
}

const answerOf = (r: EngineResult) => ({ choices: (r.body.choices as unknown[]).map((c) => (c as { message: unknown }).message), usage: r.usage });

describe('shared-prefix reuse on the embedded engine', () => {
  let reuse: Engine;
  let fresh: Engine;
  let pool: SlotPool<LlamaContextSequence>;
  let key: string;
  before(async () => {
    await generateTinyModel(base);
    fs.copyFileSync(base, withReuse);
    fs.copyFileSync(base, withoutReuse);
    reuse = await createLlamaEngine(entry(withReuse), { threads: 1, sequences: 4, contexts: 2, contextSize: 2048, prefixReuse: true });
    fresh = await createLlamaEngine(entry(withoutReuse), { threads: 1, sequences: 4, contexts: 2, contextSize: 2048, prefixReuse: false });
    const loaded = acquireModel(withReuse, {});
    key = loaded.key;
    pool = (await loaded.model).pool;
  });
  after(async () => {
    await releaseModel(key);
    await reuse.close();
    await fresh.close();
    await closeAllLlama();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a second request with the same long prefix evaluates only its suffix, on the sequence that holds the prefix', async () => {
    const sys = system(1);
    const first = await ask(reuse, withReuse, chat(sys, QUESTIONS[0]!), { max_tokens: 1 });
    // Another prefix in between: it takes another sequence (it shares only the template's first tokens), and the
    // sequence freed last is then not the one holding the first prefix.
    await ask(reuse, withReuse, chat(system(5), QUESTIONS[0]!), { max_tokens: 1 });
    const before = { tokens: evaluated(pool), stats: { ...reuseStats(pool) } };
    const second = await ask(reuse, withReuse, chat(sys, QUESTIONS[1]!), { max_tokens: 1 });
    const spent = evaluated(pool) - before.tokens;
    const reused = reuseStats(pool).reusedTokens - before.stats.reusedTokens;
    assert.ok(first.usage.prompt_tokens > 400, `a long prompt: ${first.usage.prompt_tokens} tokens`);
    // Four sequences are free: only routing to the one holding the prefix makes this reuse.
    assert.ok(reused > first.usage.prompt_tokens - 30, `reused ${reused} of ${second.usage.prompt_tokens} prompt tokens`);
    assert.equal(spent, second.usage.prompt_tokens - reused, 'llama.cpp evaluated exactly the suffix');
    assert.ok(spent < 30, `evaluated ${spent} tokens`);
    // Usage still counts the whole prompt, as Mistral bills it.
    const alone = await ask(fresh, withoutReuse, chat(sys, QUESTIONS[1]!), { max_tokens: 1 });
    assert.deepEqual(second.usage, alone.usage);
  });

  test('without reuse every request evaluates its whole prompt', async () => {
    const loaded = acquireModel(withoutReuse, {});
    try {
      const freshPool = (await loaded.model).pool;
      const sys = system(2);
      await ask(fresh, withoutReuse, chat(sys, QUESTIONS[0]!), { max_tokens: 1 });
      const start = evaluated(freshPool);
      const r = await ask(fresh, withoutReuse, chat(sys, QUESTIONS[1]!), { max_tokens: 1 });
      assert.equal(evaluated(freshPool) - start, r.usage.prompt_tokens);
      assert.equal(reuseStats(freshPool).lends, 0);
    } finally {
      await releaseModel(loaded.key);
    }
  });

  test('greedy and seeded answers are identical with and without reuse, usage included', async () => {
    const sys = system(3);
    for (const body of [{ temperature: 0 }, { temperature: 0.8, random_seed: 7 }]) {
      const expected = [];
      for (const q of QUESTIONS) expected.push(answerOf(await ask(fresh, withoutReuse, chat(sys, q), { ...body, max_tokens: 24 })));
      const got = [];
      // Twice over: the second pass runs on sequences that hold the prefix and a previous answer.
      for (let pass = 0; pass < 2; pass++)
        for (const q of QUESTIONS) got.push(answerOf(await ask(reuse, withReuse, chat(sys, q), { ...body, max_tokens: 24 })));
      assert.deepEqual(got, [...expected, ...expected], JSON.stringify(body));
    }
  });

  test('concurrent requests with different prefixes stay correct: no tokens leak between requests', async () => {
    const prompts = Array.from({ length: 12 }, (_, i) => chat(system(10 + (i % 3)), QUESTIONS[i % QUESTIONS.length]!));
    // Expected: each prompt alone, one at a time, without reuse.
    const expected = [];
    for (const p of prompts) expected.push(answerOf(await ask(fresh, withoutReuse, p)));
    const lendsBefore = reuseStats(pool).lends;
    const reusedBefore = reuseStats(pool).reusedTokens;
    // Twelve requests on four sequences at once: sequences pass between prefixes.
    const got = await Promise.all(prompts.map((p) => ask(reuse, withReuse, p)));
    assert.deepEqual(got.map(answerOf), expected);
    assert.equal(reuseStats(pool).lends - lendsBefore, 12);
    assert.ok(reuseStats(pool).reusedTokens > reusedBefore, 'some prefixes were reused');
  });

  test('lines interleaving more prefixes than sequences are grouped: each answered once, as one at a time without reuse', async () => {
    // Six prefixes round-robin over eighteen lines, on four sequences, all waiting at once.
    const prompts = Array.from({ length: 18 }, (_, i) => chat(system(20 + (i % 6)), QUESTIONS[i % QUESTIONS.length]!));
    const expected = [];
    for (const p of prompts) expected.push(answerOf(await ask(fresh, withoutReuse, p)));
    const before = { ...reuseStats(pool) };
    const got = await Promise.all(prompts.map((p) => ask(reuse, withReuse, p)));
    // Results are keyed by line: the order lines were served in changes none of them.
    assert.deepEqual(got.map(answerOf), expected);
    assert.equal(reuseStats(pool).lends - before.lends, 18, 'each line took a sequence once');
    // Served in arrival order, a freed sequence mostly holds the prefix of a line four back, not the next one's (six
    // prefixes, four sequences: about 3 prefixes' worth reused when tried); grouped, most later lines of a prefix find it
    // held (9 to 10 when tried).
    const prefixTokens = expected[0]!.usage.prompt_tokens - 30;
    const reused = reuseStats(pool).reusedTokens - before.reusedTokens;
    assert.ok(reused > 6 * prefixTokens, `reused ${reused} tokens, ${(reused / prefixTokens).toFixed(1)} prefixes`);
  });

  test('moderation after chat on the same sequences scores as on a fresh engine', async () => {
    const mod = (engine: Engine, file: string) =>
      engine.execute({ endpoint: '/v1/moderations', body: { model: 'tiny', input: ['a text about the river'] }, model: entry(file), priority: 'batch' }, never);
    await Promise.all(QUESTIONS.map((q) => ask(reuse, withReuse, chat(system(4), q))));
    const a = await mod(reuse, withReuse);
    const b = await mod(fresh, withoutReuse);
    assert.deepEqual(a.body.results, b.body.results);
  });
});
