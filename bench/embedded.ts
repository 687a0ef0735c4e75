/**
 * Embedded engine: batchd's LlamaEngine (sequence pool, scheduling, validation,
 * response shaping) against node-llama-cpp driven directly on the same model file,
 * sequence count, threads, prompt tokens and max_tokens, in the same run, rounds
 * alternating. Target ratio ≥ 0.90 for generation tokens/s and embedding inputs/s.
 * `--sweep` also measures threads × sequences (and model size, F32/F16) through the
 * engine, to choose the defaults; it writes bench/results/embedded-sweep.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Token } from 'node-llama-cpp';
import { generateTinyModel, type TinyModelOptions } from '../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, createLlamaEngine, type LlamaOptions } from '../src/engines/llama/llama-engine.js';
import { createFormatter } from '../src/engines/llama/prompts.js';
import { loadModelFile } from '../src/engines/llama/runtime.js';
import type { ModelEntry } from '../src/models/registry.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const sweep = process.argv.includes('--sweep');
const REQUESTS = quick ? 48 : 192;
const MAX_TOKENS = 64;
const EMBED_INPUTS = quick ? 200 : 800;
const ROUNDS = quick ? 2 : 3;
const BASE: Required<LlamaOptions> = { threads: 1, sequences: 8, contexts: 1, contextSize: 512, embeddingContexts: 1 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-llama-'));
const messages = Array.from({ length: REQUESTS }, (_, i) => [{ role: 'user', content: `request ${i}: tell me a story about the river and the mountain near the old city` }]);
const texts = Array.from({ length: EMBED_INPUTS }, (_, i) => `input number ${i} about the batch request model and the sea`);
const entryFor = (file: string): ModelEntry => ({ id: 'tiny', engine: 'llama', path: file, endpoints: [], max_in_flight: 16, input_price_per_mtok: 0, output_price_per_mtok: 0, context_length: 512 });
const perSecond = async (fn: () => Promise<number>) => {
  const start = performance.now();
  const n = await fn();
  return n / ((performance.now() - start) / 1000);
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `work` on `workers` concurrent loops that pull the next item index until all are done. */
async function drain(items: number, workers: number, work: (worker: number, item: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (next < items) await work(w, next++);
  }));
}

/** node-llama-cpp alone: one context of N sequences, each looping over the prompts; then embedding contexts. */
async function direct(file: string, o: typeof BASE) {
  const model = await loadModelFile(file);
  const prompts: Token[][] = messages.map((m) => createFormatter(model).chat(m).tokens);
  const context = await model.createContext({ sequences: o.sequences, contextSize: o.contextSize, threads: o.threads });
  const seqs = Array.from({ length: o.sequences }, () => context.getSequence());
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
  const embedders = await Promise.all(Array.from({ length: o.embeddingContexts }, () => model.createEmbeddingContext({ threads: o.threads, contextSize: o.contextSize })));
  const emb = await perSecond(async () => {
    await drain(texts.length, embedders.length, async (w, i) => void (await embedders[w]!.getEmbeddingFor(model.tokenize(texts[i]!))));
    return texts.length;
  });
  await Promise.all(embedders.map((e) => e.dispose()));
  await context.dispose();
  await model.dispose();
  return { gen, emb };
}

/** The same work through LlamaEngine.execute: every request submitted at once; embeddings 10 inputs per request. */
async function viaEngine(file: string, o: typeof BASE, withEmbeddings = true) {
  const entry = entryFor(file);
  const engine = await createLlamaEngine(entry, o);
  const signal = new AbortController().signal;
  const run = (endpoint: '/v1/chat/completions' | '/v1/embeddings', body: Record<string, unknown>) => engine.execute({ endpoint, body: { model: 'tiny', ...body }, model: entry, priority: 'batch' }, signal);
  await run('/v1/embeddings', { input: 'warm up' });
  const gen = await perSecond(async () => {
    const results = await Promise.all(messages.map((m) => run('/v1/chat/completions', { messages: m, max_tokens: MAX_TOKENS, temperature: 0 })));
    return results.reduce((n, r) => n + r.usage.completion_tokens, 0);
  });
  const emb = withEmbeddings
    ? await perSecond(async () => {
        const groups = Array.from({ length: texts.length / 10 }, (_, i) => texts.slice(i * 10, i * 10 + 10));
        await Promise.all(groups.map((input) => run('/v1/embeddings', { input })));
        return texts.length;
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
    if (r % 2 === 0) {
      d.push(await direct(file, BASE));
      e.push(await viaEngine(file, BASE));
    } else {
      e.push(await viaEngine(file, BASE));
      d.push(await direct(file, BASE));
    }
  }
  const row = (label: string, key: 'gen' | 'emb') => {
    const [dm, em] = [median(d.map((x) => x[key])), median(e.map((x) => x[key]))];
    return `| ${label} | ${fmt(dm)} | ${fmt(em)} | **${fmt(em / dm, 2)}** |`;
  };
  return [
    `Generated tiny model (E=64, 2 layers, F32, ${fs.statSync(file).size.toLocaleString('en-US')} bytes); ${BASE.sequences} parallel sequences in one context, ${BASE.threads} thread; ${REQUESTS} chat requests, max_tokens ${MAX_TOKENS}, temperature 0; ${EMBED_INPUTS} embedding inputs (engine: requests of 10 inputs). Median of ${ROUNDS} alternating rounds after a warm-up.`,
    '',
    '| measure | node-llama-cpp direct | batchd LlamaEngine | ratio |',
    '|---|---|---|---|',
    row('generation, tokens/s', 'gen'),
    row('embeddings, inputs/s', 'emb'),
    '',
    `Target: both ratios ≥ 0.90. Peak RSS of the benchmark process: ${peakRssMb()} MB.`,
  ];
}

/** Engine throughput over threads × sequences for a few model shapes: the data behind the defaults. */
async function sweepTable() {
  const shapes: [string, TinyModelOptions][] = [
    ['tiny F32 (E=64, 2 layers)', {}],
    ['tiny F16', { type: 'f16' }],
    ['medium F16 (E=256, 6 layers)', { embedding: 256, layers: 6, heads: 8, feedForward: 768, type: 'f16' }],
  ];
  const sequences = quick ? [1, 8, 32] : [1, 4, 8, 16, 32];
  const lines = ['| model | threads × contexts | ' + sequences.map((s) => `${s} seq`).join(' | ') + ' | embeddings/s, 1 ctx | 2 ctx |', '|---|---|' + sequences.map(() => '---|').join('') + '---|---|'];
  for (const [label, shape] of shapes) {
    const file = path.join(dir, `${label.split(' ')[0]}-${shape.type ?? 'f32'}.gguf`);
    generateTinyModel(file, shape);
    for (const [threads, contexts] of [[1, 1], [2, 1], [1, 2]] as const) {
      const cells = [];
      for (const s of sequences) cells.push(s < contexts ? '–' : fmt((await viaEngine(file, { ...BASE, threads, contexts, sequences: s }, false)).gen));
      const emb = [];
      for (const k of [1, 2]) emb.push(contexts === 1 ? fmt((await viaEngine(file, { ...BASE, threads, embeddingContexts: k })).emb) : '–');
      lines.push(`| ${label} | ${threads} × ${contexts} | ${cells.join(' | ')} | ${emb.join(' | ')} |`);
      console.log(lines[lines.length - 1]);
    }
  }
  return lines;
}

try {
  const file = path.join(dir, 'tiny.gguf');
  generateTinyModel(file);
  writeReport('embedded', 'Embedded engine: batchd vs node-llama-cpp direct', await compare(file));
  if (sweep) {
    const table = await sweepTable();
    writeReport('embedded-sweep', 'Embedded engine: threads × sequences (generation tokens/s through LlamaEngine)', [
      `${REQUESTS} chat requests, max_tokens ${MAX_TOKENS}, temperature 0, all submitted at once; embeddings: ${EMBED_INPUTS} inputs in requests of 10. One run per cell on a 2-core machine: read orders of magnitude.`,
      '',
      ...table,
      '',
      `Peak RSS of the benchmark process: ${peakRssMb()} MB.`,
    ]);
  }
} finally {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
}
