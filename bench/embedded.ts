/**
 * Embedded engine: batchd's LlamaEngine (sequence pool, scheduling, response shaping)
 * against node-llama-cpp driven directly on the same model, sequence count, threads,
 * prompts and max_tokens, in the same run. Target ratio ≥ 0.90 for generation tokens/s
 * and for embedding inputs/s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Token } from 'node-llama-cpp';
import { generateTinyModel } from '../src/engines/llama/gguf/tiny-model.js';
import { createLlamaEngine } from '../src/engines/llama/llama-engine.js';
import { loadLlama } from '../src/engines/llama/runtime.js';
import { chatTokens } from '../src/engines/llama/prompts.js';
import type { ModelEntry } from '../src/models/registry.js';
import { fmt, peakRssMb, quick, writeReport } from './lib/report.js';

const REQUESTS = quick ? 32 : 128;
const MAX_TOKENS = 64;
const SEQUENCES = 8;
const EMBED_INPUTS = quick ? 100 : 400;
const opts = { threads: 1, sequences: SEQUENCES, contextSize: 512 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-llama-'));
const file = path.join(dir, 'tiny.gguf');
generateTinyModel(file);
const prompts = Array.from({ length: REQUESTS }, (_, i) => [{ role: 'user', content: `request ${i}: tell me a story about the river and the mountain near the old city` }]);
const texts = Array.from({ length: EMBED_INPUTS }, (_, i) => `input number ${i} about the batch request model`);

async function direct() {
  const llama = await loadLlama();
  const model = await llama.loadModel({ modelPath: file });
  const context = await model.createContext({ ...opts });
  const free = Array.from({ length: SEQUENCES }, () => context.getSequence());
  let tokens = 0;
  let next = 0;
  const start = performance.now();
  await Promise.all(free.map(async (seq) => {
    while (next < prompts.length) {
      const prompt: Token[] = chatTokens(model, prompts[next++]);
      let n = 0;
      for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
        if (model.isEogToken(t) || ++n >= MAX_TOKENS) break;
      }
      tokens += n;
      await seq.clearHistory();
    }
  }));
  const genMs = performance.now() - start;
  const emb = await model.createEmbeddingContext({ threads: 1, contextSize: 512 });
  const eStart = performance.now();
  for (const t of texts) await emb.getEmbeddingFor(t);
  const embMs = performance.now() - eStart;
  await emb.dispose();
  await context.dispose();
  await model.dispose();
  return { tokensPerSec: tokens / (genMs / 1000), embedPerSec: texts.length / (embMs / 1000) };
}

async function viaEngine() {
  const entry: ModelEntry = { id: 'tiny', engine: 'llama', path: file, endpoints: [], max_in_flight: SEQUENCES, input_price_per_mtok: 0, output_price_per_mtok: 0, context_length: 512 };
  const engine = await createLlamaEngine(entry, opts);
  const signal = new AbortController().signal;
  const start = performance.now();
  const results = await Promise.all(prompts.map((messages) => engine.execute({ endpoint: '/v1/chat/completions', body: { model: 'tiny', messages, max_tokens: MAX_TOKENS, temperature: 0 }, model: entry, priority: 'batch' }, signal)));
  const genMs = performance.now() - start;
  const tokens = results.reduce((n, r) => n + r.usage.completion_tokens, 0);
  const eStart = performance.now();
  await Promise.all(texts.map((input) => engine.execute({ endpoint: '/v1/embeddings', body: { model: 'tiny', input }, model: entry, priority: 'batch' }, signal)));
  const embMs = performance.now() - eStart;
  await engine.close();
  return { tokensPerSec: tokens / (genMs / 1000), embedPerSec: texts.length / (embMs / 1000) };
}

try {
  // Warm once each, then measure; alternate order so neither side always runs first.
  await direct();
  await viaEngine();
  const d = await direct();
  const e = await viaEngine();
  writeReport('embedded', 'Embedded engine: batchd vs node-llama-cpp direct', [
    `Generated tiny model (64-dim, 2 layers), ${SEQUENCES} parallel sequences in one context, 1 thread, ${REQUESTS} chat requests of ${MAX_TOKENS} tokens at temperature 0; ${EMBED_INPUTS} embedding inputs.`,
    '',
    '| measure | node-llama-cpp direct | batchd LlamaEngine | ratio |',
    '|---|---|---|---|',
    `| generation, tokens/s | ${fmt(d.tokensPerSec)} | ${fmt(e.tokensPerSec)} | **${fmt(e.tokensPerSec / d.tokensPerSec, 2)}** |`,
    `| embeddings, inputs/s | ${fmt(d.embedPerSec)} | ${fmt(e.embedPerSec)} | **${fmt(e.embedPerSec / d.embedPerSec, 2)}** |`,
    '',
    `Targets: both ratios ≥ 0.90. Peak RSS of the benchmark process: ${peakRssMb()} MB.`,
  ]);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
