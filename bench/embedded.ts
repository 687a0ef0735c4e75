/**
 * Embedded engine: batchd's LlamaEngine (sequence pool, scheduling, validation,
 * response shaping) against node-llama-cpp driven directly on the same model file,
 * contexts, sequences, threads, prompt tokens and max_tokens, in the same run, rounds
 * alternating. Target ratio ≥ 0.90 for generation tokens/s and embedding inputs/s.
 * `--sweep` instead measures threads × contexts × sequences (and model size, F32/F16)
 * through the engine, to choose the defaults; it writes bench/results/embedded-sweep.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Token } from 'node-llama-cpp';
import { generateTinyModel, type TinyModelOptions } from '../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, createLlamaEngine, LLAMA_DEFAULTS, type LlamaOptions } from '../src/engines/llama/llama-engine.js';
import { createFormatter } from '../src/engines/llama/prompts.js';
import { loadModelFile } from '../src/engines/llama/runtime.js';
import type { ModelEntry } from '../src/models/registry.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const sweep = process.argv.includes('--sweep');
const REQUESTS = quick ? 48 : 192;
const MAX_TOKENS = 64;
const EMBED_INPUTS = quick ? 200 : 800;
const ROUNDS = quick ? 2 : 3;
/** The engine's defaults, with a context size fitting these prompts. */
const BASE: Required<LlamaOptions> = { ...LLAMA_DEFAULTS, contextSize: 512 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-llama-'));
const messages = Array.from({ length: REQUESTS }, (_, i) => [
  { role: 'user', content: `request ${i}: tell me a story about the river and the mountain near the old city` },
]);
const texts = Array.from({ length: EMBED_INPUTS }, (_, i) => `input number ${i} about the batch request model and the sea`);
const entryFor = (file: string): ModelEntry => ({
  id: 'tiny',
  engine: 'llama',
  path: file,
  endpoints: [],
  max_in_flight: 16,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: 512,
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const perSecond = async (fn: () => Promise<number>) => {
  const start = performance.now();
  const n = await fn();
  return n / ((performance.now() - start) / 1000);
};

/** Runs `work` on `workers` concurrent loops that pull the next item index until all are done. */
async function drain(items: number, workers: number, work: (worker: number, item: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (next < items) await work(w, next++);
    }),
  );
}

/** node-llama-cpp alone: the same contexts and sequences, each sequence looping over the prompts; then embedding contexts. */
async function direct(file: string, o: typeof BASE) {
  const model = await loadModelFile(file);
  const prompts: Token[][] = messages.map((m) => createFormatter(model).chat(m).tokens);
  const contexts = await Promise.all(
    Array.from({ length: o.contexts }, () =>
      model.createContext({ sequences: Math.ceil(o.sequences / o.contexts), contextSize: o.contextSize, threads: o.threads }),
    ),
  );
  const seqs = Array.from({ length: o.sequences }, (_, i) => contexts[i % o.contexts]!.getSequence());
  const gen = await perSecond(async () => {
    let tokens = 0;
    await drain(prompts.length, o.sequences, async (w, i) => {
      let n = 0;
      for await (const _ of seqs[w]!.evaluate(prompts[i]!, { temperature: 0 })) if (++n >= MAX_TOKENS) break;
      tokens += n;
      await seqs[w]!.clearHistory();
    });
    return tokens;
  });
  const embedders = await Promise.all(
    Array.from({ length: o.embeddingContexts }, () => model.createEmbeddingContext({ threads: o.threads, contextSize: o.contextSize })),
  );
  const emb = await perSecond(async () => {
    await drain(texts.length, embedders.length, async (w, i) => void (await embedders[w]!.getEmbeddingFor(model.tokenize(texts[i]!))));
    return texts.length;
  });
  await Promise.all([...embedders, ...contexts].map((c) => c.dispose()));
  await model.dispose();
  return { gen, emb };
}

/** The same work through LlamaEngine.execute: every request submitted at once; embeddings 10 inputs per request. */
async function viaEngine(file: string, o: typeof BASE, work = { requests: REQUESTS, inputs: EMBED_INPUTS }) {
  const entry = entryFor(file);
  const engine = await createLlamaEngine(entry, o);
  const signal = new AbortController().signal;
  const run = (endpoint: '/v1/chat/completions' | '/v1/embeddings', body: Record<string, unknown>) =>
    engine.execute({ endpoint, body: { model: 'tiny', ...body }, model: entry, priority: 'batch' }, signal);
  if (work.inputs) await run('/v1/embeddings', { input: 'warm up' });
  const gen = work.requests
    ? await perSecond(async () => {
        const results = await Promise.all(
          messages.slice(0, work.requests).map((m) => run('/v1/chat/completions', { messages: m, max_tokens: MAX_TOKENS, temperature: 0 })),
        );
        return results.reduce((n, r) => n + r.usage.completion_tokens, 0);
      })
    : 0;
  const emb = work.inputs
    ? await perSecond(async () => {
        const groups = Array.from({ length: Math.ceil(work.inputs / 10) }, (_, i) => texts.slice(i * 10, Math.min(work.inputs, i * 10 + 10)));
        await Promise.all(groups.map((input) => run('/v1/embeddings', { input })));
        return work.inputs;
      })
    : 0;
  await engine.close();
  return { gen, emb };
}

async function compare(file: string) {
  const d: { gen: number; emb: number }[] = [];
  const e: { gen: number; emb: number }[] = [];
  await direct(file, BASE); // warm-up: page cache, native library, JIT
  for (let r = 0; r < ROUNDS; r++) {
    const pair = [() => direct(file, BASE).then((x) => d.push(x)), () => viaEngine(file, BASE).then((x) => e.push(x))];
    for (const run of r % 2 === 0 ? pair : pair.reverse()) await run();
  }
  const row = (label: string, key: 'gen' | 'emb') => {
    const [dm, em] = [median(d.map((x) => x[key])), median(e.map((x) => x[key]))];
    return `| ${label} | ${fmt(dm)} | ${fmt(em)} | **${fmt(em / dm, 2)}** |`;
  };
  return [
    `Generated default model (E=64, 2 layers, F16, ${fs.statSync(file).size.toLocaleString('en-US')} bytes); the engine defaults on both sides: ${BASE.sequences} parallel sequences over ${BASE.contexts} context(s) of ${BASE.threads} thread, ${BASE.embeddingContexts} embedding context(s); ${REQUESTS} chat requests, max_tokens ${MAX_TOKENS}, temperature 0; ${EMBED_INPUTS} embedding inputs (engine: requests of 10 inputs). Median of ${ROUNDS} alternating rounds after a warm-up.`,
    '',
    '| measure | node-llama-cpp direct | batchd LlamaEngine | ratio |',
    '|---|---|---|---|',
    row('generation, tokens/s', 'gen'),
    row('embeddings, inputs/s', 'emb'),
    '',
    `Target: both ratios ≥ 0.90. Peak RSS of the benchmark process: ${peakRssMb()} MB.`,
  ];
}

/**
 * Engine throughput over threads × contexts × sequences, and embedding contexts, for a
 * few model shapes: the data behind the defaults. Median of 3 runs per cell; the
 * two-thread cells are 20-50x slower, so they get 1 run on a sixth of the work.
 */
async function sweepTables() {
  const shapes: [string, TinyModelOptions][] = [
    ['tiny F32 (E=64, 2 layers)', { type: 'f32' }],
    ['tiny F16 (default)', { type: 'f16' }],
    ['medium F16 (E=256, 6 layers)', { embedding: 256, layers: 6, heads: 8, feedForward: 768, type: 'f16' }],
  ];
  const seqCounts = [1, 8, 16, 32];
  const cell = async (file: string, o: typeof BASE, key: 'gen' | 'emb') => {
    const slow = o.threads > 1;
    const work =
      key === 'gen'
        ? { requests: slow ? Math.round(REQUESTS / 6) : REQUESTS, inputs: 0 }
        : { requests: 0, inputs: slow ? Math.round(EMBED_INPUTS / 6) : EMBED_INPUTS };
    const runs = [];
    for (let i = 0; i < (slow ? 1 : 3); i++) runs.push((await viaEngine(file, o, work))[key]);
    return fmt(median(runs));
  };
  const gen = ['| model | threads × contexts | ' + seqCounts.map((n) => `${n} seq`).join(' | ') + ' |', '|---|---|' + seqCounts.map(() => '---|').join('')];
  const emb = ['| model | threads | 1 embedding context | 2 embedding contexts |', '|---|---|---|---|'];
  for (const [i, [label, shape]] of shapes.entries()) {
    const file = path.join(dir, `sweep-${i}.gguf`);
    generateTinyModel(file, shape);
    for (const [threads, contexts] of [
      [1, 1],
      [1, 2],
      [2, 1],
    ] as const) {
      const cells = [];
      for (const n of seqCounts) cells.push(n < contexts ? '–' : await cell(file, { ...BASE, threads, contexts, sequences: n }, 'gen'));
      gen.push(`| ${label} | ${threads} × ${contexts} | ${cells.join(' | ')} |`);
      console.log(gen[gen.length - 1]);
    }
    for (const threads of [1, 2]) {
      emb.push(
        `| ${label} | ${threads} | ${await cell(file, { ...BASE, threads, embeddingContexts: 1 }, 'emb')} | ${await cell(file, { ...BASE, threads, embeddingContexts: 2 }, 'emb')} |`,
      );
      console.log(emb[emb.length - 1]);
    }
  }
  return { gen, emb };
}

try {
  if (sweep) {
    const { gen, emb } = await sweepTables();
    writeReport('embedded-sweep', 'Embedded engine: threads, contexts and sequences', [
      `Through LlamaEngine: ${REQUESTS} chat requests (max_tokens ${MAX_TOKENS}, temperature 0) or ${EMBED_INPUTS} embedding inputs (requests of 10), all submitted at once. Median of 3 runs per cell (two-thread cells: 1 run, a sixth of the work). 2-core machine.`,
      '',
      'Generation, tokens/s:',
      '',
      ...gen,
      '',
      'Embeddings, inputs/s:',
      '',
      ...emb,
      '',
      `Peak RSS of the benchmark process: ${peakRssMb()} MB.`,
    ]);
  } else {
    const file = path.join(dir, 'tiny.gguf');
    generateTinyModel(file);
    writeReport('embedded', 'Embedded engine: batchd vs node-llama-cpp direct', await compare(file));
  }
} finally {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
}
