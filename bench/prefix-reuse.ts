/**
 * Shared-prefix reuse on the embedded engine: 500 chat requests sharing a 1,000-token
 * system prompt, each with a short distinct question, through LlamaEngine.execute with
 * reuse on and with reuse off. Both engines name the same model file, so they share one
 * loaded model and one sequence pool, and differ only in the `prefixReuse` option
 * (BATCHD_LLAMA_PREFIX_REUSE): the baseline is the same code path. Rounds alternate
 * (on, off, off, on, …); medians and the spread are reported. Target: ≥ 2× requests/s.
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
const SYSTEM_TOKENS = 1000;
const MAX_TOKENS = 16;
const OPTIONS = { ...LLAMA_DEFAULTS, contextSize: 2048 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-prefix-'));
const file = path.join(dir, 'tiny.gguf');
const entry: ModelEntry = {
  id: 'tiny',
  engine: 'llama',
  path: file,
  endpoints: [],
  max_in_flight: 32,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: OPTIONS.contextSize,
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const signal = new AbortController().signal;

const WORDS = 'you are a careful assistant who answers every question about the river the mountain the old city and the sea with one short story'.split(' ');
const systemPrompt = (words: number) => Array.from({ length: words }, (_, i) => WORDS[(i * 7) % WORDS.length]).join(' ');
const question = (i: number) => `Question ${i}: what happened near the river on day ${i}?`;

function ask(engine: Engine, system: string, i: number): Promise<EngineResult> {
  const messages = [
    { role: 'system', content: system },
    { role: 'user', content: question(i) },
  ];
  return engine.execute(
    { endpoint: '/v1/chat/completions', body: { model: 'tiny', messages, max_tokens: MAX_TOKENS, temperature: 0 }, model: entry, priority: 'batch' },
    signal,
  );
}

/** Words of system prompt giving about SYSTEM_TOKENS prompt tokens before the question. */
async function sizeSystemPrompt(engine: Engine): Promise<{ system: string; tokens: number }> {
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
    if (r.usage.prompt_tokens >= SYSTEM_TOKENS) return { system, tokens: r.usage.prompt_tokens };
    words = Math.ceil((words * SYSTEM_TOKENS) / r.usage.prompt_tokens) + 1;
  }
}

try {
  generateTinyModel(file);
  const on = await createLlamaEngine(entry, { ...OPTIONS, prefixReuse: true });
  const off = await createLlamaEngine(entry, { ...OPTIONS, prefixReuse: false });
  const loaded = acquireModel(file, {});
  const pool = (await loaded.model).pool;
  const flashAttention = String(pool.all[0]!.context.flashAttention);
  const { system, tokens: systemTokens } = await sizeSystemPrompt(off);

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

  const same = (a: string[] = [], b: string[] = []) => a.filter((x, i) => x === b[i]).length;
  const spread = (xs: number[]) => `${fmt(Math.min(...xs), 1)}–${fmt(Math.max(...xs), 1)}`;
  const [mOn, mOff] = [median(rates.on), median(rates.off)];
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
  ]);
} finally {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
}
