/**
 * Shared-prefix reuse on the embedded engine: 500 chat requests sharing a 1,000-token
 * system prompt, each with a short distinct question, through LlamaEngine.execute with
 * reuse on and with reuse off. Both engines name the same model file, so they share one
 * loaded model and one sequence pool, and differ only in the `prefixReuse` option
 * (BATCHD_LLAMA_PREFIX_REUSE): the baseline is the same code path. Rounds alternate
 * (on, off, off, on, …); medians and the spread are reported. Target: ≥ 2× requests/s.
 *
 * Second scenario, interleaved prefixes: lines round-robin over K distinct system prompts
 * on a pool of fewer sequences than prefixes, served first come first served (the pool's
 * lookahead 1) and grouped (a freed sequence goes to a waiting line it holds the prefix
 * of, sequence-pool.ts), with reuse off as the floor; lines sent as the worker sends
 * them (at most the engine's maxInFlight at once) and all at once. Same run, rounds
 * alternating.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateTinyModel } from '../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, createLlamaEngine, LLAMA_DEFAULTS } from '../src/engines/llama/llama-engine.js';
import { acquireModel, releaseModel } from '../src/engines/llama/loaded-model.js';
import { reuseStats } from '../src/engines/llama/prefix-reuse.js';
import type { Engine, EngineResult } from '../src/engines/engine.js';
import type { ModelEntry } from '../src/models/registry.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const REQUESTS = quick ? 150 : 500;
const ROUNDS = quick ? 2 : 3;
/** Interleaved scenario: lines, distinct system prompts, and sequences (fewer than prefixes). */
const INTERLEAVED = { requests: quick ? 48 : 120, prefixes: 4, sequences: 2 };
const SYSTEM_TOKENS = 1000;
const MAX_TOKENS = 16;
const OPTIONS = { ...LLAMA_DEFAULTS, contextSize: 2048 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-prefix-'));
const file = path.join(dir, 'tiny.gguf');
// A second copy of the file: its own loaded model and pool, of INTERLEAVED.sequences sequences.
const interleavedFile = path.join(dir, 'interleaved.gguf');
const modelEntry = (p: string): ModelEntry => ({
  id: 'tiny',
  engine: 'llama',
  path: p,
  endpoints: [],
  max_in_flight: 32,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: OPTIONS.contextSize,
});
const entry = modelEntry(file);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const signal = new AbortController().signal;

const WORDS = 'you are a careful assistant who answers every question about the river the mountain the old city and the sea with one short story'.split(' ');
/** `words` words of system prompt; another `seed` starts with other words, so two seeds share only the template's first tokens. */
const systemPrompt = (words: number, seed = 0) => Array.from({ length: words }, (_, i) => WORDS[(i * 7 + seed * 3) % WORDS.length]).join(' ');
const question = (i: number) => `Question ${i}: what happened near the river on day ${i}?`;

function ask(engine: Engine, system: string, i: number, model = entry): Promise<EngineResult> {
  const messages = [
    { role: 'system', content: system },
    { role: 'user', content: question(i) },
  ];
  return engine.execute(
    { endpoint: '/v1/chat/completions', body: { model: 'tiny', messages, max_tokens: MAX_TOKENS, temperature: 0 }, model, priority: 'batch' },
    signal,
  );
}

/** Runs `n` tasks with at most `limit` at once, in order of index (as the worker sends a chunk's lines); results by index. */
async function inFlight<T>(n: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < n; i = next++) out[i] = await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
  return out;
}

/** Words of system prompt giving about SYSTEM_TOKENS prompt tokens before the question. */
async function sizeSystemPrompt(engine: Engine): Promise<{ system: string; words: number; tokens: number }> {
  let words = SYSTEM_TOKENS;
  for (;;) {
    const system = systemPrompt(words);
    const r = await engine.execute(
      {
        endpoint: '/v1/chat/completions',
        body: {
          model: 'tiny',
          messages: [
            { role: 'system', content: system },
            { role: 'user', content: '' },
          ],
          max_tokens: 1,
        },
        model: entry,
        priority: 'batch',
      },
      signal,
    );
    if (r.usage.prompt_tokens >= SYSTEM_TOKENS) return { system, words, tokens: r.usage.prompt_tokens };
    words = Math.ceil((words * SYSTEM_TOKENS) / r.usage.prompt_tokens) + 1;
  }
}

const same = (a: string[] = [], b: string[] = []) => a.filter((x, i) => x === b[i]).length;
const spread = (xs: number[]) => `${fmt(Math.min(...xs), 1)}–${fmt(Math.max(...xs), 1)}`;

/** The interleaved-prefixes scenario (see the top), on its own pool; returns its report section. */
async function interleavedScenario(words: number, systemTokens: number): Promise<string[]> {
  const { requests: n, prefixes: k, sequences } = INTERLEAVED;
  fs.copyFileSync(file, interleavedFile);
  const model = modelEntry(interleavedFile);
  const on = await createLlamaEngine(model, { ...OPTIONS, sequences, prefixReuse: true });
  const off = await createLlamaEngine(model, { ...OPTIONS, sequences, prefixReuse: false });
  const loaded = acquireModel(interleavedFile, {});
  const systems = Array.from({ length: k }, (_, p) => systemPrompt(words, p));
  const worker = `at most maxInFlight (${on.maxInFlight}) at once, as the worker sends`;
  const sends = [
    [worker, on.maxInFlight],
    [`at most ${8 * sequences} at once`, 8 * sequences],
    ['all at once', n],
  ] as const;
  const modes = ['reuse on, first come first served', 'reuse on, grouped'] as const;
  // Reuse off, the floor, once: without reuse the order lines are served in changes nothing.
  const configs = [
    { send: worker, limit: on.maxInFlight, mode: 'reuse off', key: `${worker}|reuse off` },
    ...sends.flatMap(([send, limit]) => modes.map((mode) => ({ send, limit, mode, key: `${send}|${mode}` }))),
  ];
  const rates = new Map<string, number[]>();
  const evaluated = new Map<string, number[]>();
  const answers = new Map<string, string[][]>();
  const push = <T>(m: Map<string, T[]>, key: string, v: T) => m.set(key, [...(m.get(key) ?? []), v]);
  const pool = (await loaded.model).pool;
  const { lookahead, maxPasses } = pool;
  try {
    const round = async (c: (typeof configs)[number], counted = true) => {
      pool.lookahead = c.mode === 'reuse on, grouped' ? lookahead : 1;
      const stats = { ...reuseStats(pool) };
      const start = performance.now();
      const results = await inFlight(n, c.limit, (i) => ask(c.mode === 'reuse off' ? off : on, systems[i % k]!, i, model));
      const secs = (performance.now() - start) / 1000;
      if (!counted) return;
      const now = reuseStats(pool);
      const prompt = results.reduce((t, r) => t + r.usage.prompt_tokens, 0);
      push(rates, c.key, n / secs);
      push(evaluated, c.key, (prompt - (now.reusedTokens - stats.reusedTokens)) / n);
      push(
        answers,
        c.key,
        results.map((r) => JSON.stringify([r.body.choices, r.usage])),
      );
      console.log(`interleaved, ${c.send}, ${c.mode}: ${fmt(n / secs, 1)} requests/s`);
    };
    await round(configs[configs.length - 1]!, false); // warm-up
    for (let r = 0; r < ROUNDS; r++) for (const c of r % 2 === 0 ? configs : [...configs].reverse()) await round(c);
  } finally {
    pool.lookahead = lookahead;
    await releaseModel(loaded.key);
    await on.close();
    await off.close();
  }
  const ratio = (send: string, mode: string) => median(rates.get(`${send}|${mode}`)!) / median(rates.get(`${send}|reuse on, first come first served`)!);
  return [
    `## Interleaved prefixes, fewer sequences than prefixes`,
    '',
    `${fmt(n)} chat requests whose system prompts cycle through ${k} distinct ones (line i has prompt i mod ${k}; each about ${fmt(systemTokens)} prompt tokens, sharing only the template's first tokens with the others), on a pool of ${sequences} sequences (${OPTIONS.contexts} contexts), same model and settings as above. Lines sent in order, as the worker sends a chunk's lines, at most the engine's maxInFlight (${on.maxInFlight}) at once, as the worker does; at most ${8 * sequences} (what a larger maxInFlight would let wait in the pool); and all at once. First come first served is the pool's \`lookahead\` at 1 (every freed sequence to the oldest waiting line: the behaviour before grouping); grouped is its default (lookahead ${lookahead}, a line passed over at most ${maxPasses} times). ${ROUNDS} rounds of each of the ${configs.length} configurations, alternating in order, after a warm-up round.`,
    '',
    '| sent | mode | requests/s (median) | spread (min–max) | prompt tokens evaluated a request (median) | vs first come first served |',
    '|---|---|---|---|---|---|',
    ...configs.map(
      (c) =>
        `| ${c.send} | ${c.mode} | ${fmt(median(rates.get(c.key)!), 1)} | ${spread(rates.get(c.key)!)} | ${fmt(median(evaluated.get(c.key)!), 0)} | ${fmt(ratio(c.send, c.mode), 2)}× |`,
    ),
    '',
    ...sends.map(
      ([send]) =>
        `${send}: answers identical grouped vs first come first served (first counted round of each) ${same(answers.get(`${send}|reuse on, grouped`)![0], answers.get(`${send}|reuse on, first come first served`)![0])} of ${n}; control, two first-come-first-served rounds ${same(...(answers.get(`${send}|reuse on, first come first served`)! as [string[], string[]]))} of ${n}.`,
    ),
  ];
}

try {
  generateTinyModel(file);
  const on = await createLlamaEngine(entry, { ...OPTIONS, prefixReuse: true });
  const off = await createLlamaEngine(entry, { ...OPTIONS, prefixReuse: false });
  const loaded = acquireModel(file, {});
  const pool = (await loaded.model).pool;
  const flashAttention = String(pool.all[0]!.context.flashAttention);
  const { system, words, tokens: systemTokens } = await sizeSystemPrompt(off);

  // Every round's answers: first rounds compared across modes, and the two first off rounds with each other (the control).
  const answers: Record<'on' | 'off', string[][]> = { on: [], off: [] };
  const rates: Record<'on' | 'off', number[]> = { on: [], off: [] };
  let promptTokens = 0;
  let evaluatedOn = 0;
  const round = async (mode: 'on' | 'off') => {
    const stats = { ...reuseStats(pool) };
    const start = performance.now();
    const results = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => ask(mode === 'on' ? on : off, system, i)));
    const s = (performance.now() - start) / 1000;
    rates[mode].push(REQUESTS / s);
    answers[mode].push(results.map((r) => JSON.stringify([r.body.choices, r.usage])));
    if (mode === 'on') {
      const now = reuseStats(pool);
      promptTokens = now.promptTokens - stats.promptTokens;
      evaluatedOn = promptTokens - (now.reusedTokens - stats.reusedTokens);
    }
    console.log(`reuse ${mode}: ${fmt(REQUESTS / s, 1)} requests/s`);
  };
  await round('on'); // warm-up (JIT, page cache); not counted
  const loadBefore = os.loadavg()[0]!;
  rates.on = [];
  answers.on = [];
  for (let r = 0; r < ROUNDS; r++) for (const mode of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) await round(mode);
  await releaseModel(loaded.key);
  await on.close();
  await off.close();

  const [mOn, mOff] = [median(rates.on), median(rates.off)];
  const interleaved = await interleavedScenario(words, systemTokens);
  writeReport('prefix-reuse', 'Shared-prefix reuse on the embedded engine', [
    `${fmt(REQUESTS)} chat requests through LlamaEngine.execute, all submitted at once: one system prompt of ${fmt(systemTokens)} prompt tokens (with the chat template) and a short distinct question each (${fmt(promptTokens / REQUESTS)} prompt tokens a request in all), max_tokens ${MAX_TOKENS}, temperature 0. Generated default model; engine defaults (${OPTIONS.sequences} sequences over ${OPTIONS.contexts} contexts of ${OPTIONS.threads} thread), contextSize ${OPTIONS.contextSize}, flash attention \`${flashAttention}\` (as loaded-model.ts creates the contexts). Reuse on and off are two engines on the same file, sharing one model and one sequence pool, differing only in \`prefixReuse\` (\`BATCHD_LLAMA_PREFIX_REUSE\`). ${ROUNDS} rounds each, alternating, after a warm-up round.`,
    '',
    '| prefix reuse | requests/s (median) | spread (min–max) | rounds |',
    '|---|---|---|---|',
    `| off | ${fmt(mOff, 1)} | ${spread(rates.off)} | ${rates.off.map((x) => fmt(x, 1)).join(', ')} |`,
    `| on | ${fmt(mOn, 1)} | ${spread(rates.on)} | ${rates.on.map((x) => fmt(x, 1)).join(', ')} |`,
    '',
    `**Speed-up: ${fmt(mOn / mOff, 2)}×** (target ≥ 2×). With reuse, llama.cpp evaluated ${fmt(evaluatedOn / REQUESTS, 1)} prompt tokens a request (the rest were held by the sequence that took the request; each of the ${OPTIONS.sequences} sequences evaluates the system prompt once), against all ${fmt(promptTokens / REQUESTS)} without.`,
    '',
    `Answers identical with and without reuse (choices and usage, first counted round of each): ${same(answers.on[0], answers.off[0])} of ${REQUESTS}; between two rounds without reuse (the control: which sequences share a decode batch changes llama.cpp's float sums, so a greedy near-tie can flip): ${same(answers.off[0], answers.off[1])} of ${REQUESTS}. Run one request at a time, reuse gives the same tokens as a fresh evaluation (test/engines/prefix-reuse.test.ts). Peak RSS of the benchmark process: ${peakRssMb()} MB. Load average (1 min) ${fmt(loadBefore, 1)} at the start, ${fmt(os.loadavg()[0]!, 1)} at the end, on ${os.availableParallelism()} cores.`,
    '',
    ...interleaved,
  ]);
} finally {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
}
