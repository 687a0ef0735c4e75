/**
 * The embedded engine on the best backend this machine has: llama.cpp's CUDA, Vulkan or
 * Metal build where a GPU and its driver work, the CPU build otherwise (BATCHD_LLAMA_GPU
 * or --gpu overrides). Prints the backend, the device, how the model was laid out (layers
 * offloaded, contexts, sequences) and generation tokens/s through the engine (the same
 * path batch lines and online requests take), for one sequence and for many in parallel.
 *
 *   node --import tsx bench/gpu.ts [--quick] [--model file.gguf] [--sequences N] [--gpu auto|off|cuda|vulkan|metal]
 *
 * Without --model it generates a 26M-parameter model (E=512, 8 layers; --quick: the
 * default tiny one). Writes bench/results/gpu.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeBackend, llamaHealth, parseGpuSetting } from '../src/engines/llama/backend.js';
import { generateTinyModel } from '../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, createLlamaEngine } from '../src/engines/llama/llama-engine.js';
import { llamaBackend } from '../src/engines/llama/runtime.js';
import type { ModelEntry } from '../src/models/registry.js';
import { fmt, quick, writeReport } from './lib/report.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const gpu = parseGpuSetting(arg('gpu') ?? process.env.BATCHD_LLAMA_GPU, '--gpu');
const sequences = Number(arg('sequences') ?? 16);
const MAX_TOKENS = 64;
const REQUESTS = quick ? sequences * 2 : sequences * 6;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-gpu-'));
let file = arg('model');
if (!file) {
  file = path.join(dir, 'bench.gguf');
  generateTinyModel(file, quick ? {} : { embedding: 512, layers: 8, heads: 8, feedForward: 1408 });
}
const entry: ModelEntry = {
  id: 'bench',
  engine: 'llama',
  path: file,
  endpoints: [],
  max_in_flight: sequences * 2,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: 512,
};
const never = new AbortController().signal;
const prompt = (i: number) => [{ role: 'user', content: `request ${i}: tell me a story about the river and the mountain near the old city` }];

try {
  const backend = await llamaBackend(gpu);
  const engine = await createLlamaEngine(entry, { gpu, sequences, contextSize: 512, threads: 1 });
  const one = (i: number) =>
    engine.execute(
      {
        endpoint: '/v1/chat/completions',
        body: { messages: prompt(i), max_tokens: MAX_TOKENS, temperature: 0, min_tokens: MAX_TOKENS },
        model: entry,
        priority: 'batch',
      },
      never,
    );
  /** Completion tokens per second over `count` requests, `parallel` at a time. */
  const run = async (count: number, parallel: number) => {
    let next = 0;
    let tokens = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < count) {
          // Awaited first: `tokens += await …` would read `tokens` before the wait and lose the other loops' counts.
          const res = await one(next++);
          tokens += res.usage.completion_tokens;
        }
      }),
    );
    return tokens / ((performance.now() - start) / 1000);
  };
  try {
    await one(0); // Warm-up: first decode allocates the compute buffers.
    const single = await run(quick ? 2 : 4, 1);
    const parallel = await run(REQUESTS, sequences);
    const model = llamaHealth().models[0]!;
    writeReport('gpu', 'Embedded engine on the best backend', [
      `- ${describeBackend(backend)}`,
      `- device: ${backend.devices.join(', ') || 'none (CPU)'}`,
      `- model: ${path.basename(file)} (${model.total_layers} layers, ${model.gpu_layers} on the GPU), ${model.contexts} context(s) holding ${model.sequences} sequences of ${model.context_size} tokens`,
      `- generation, ${MAX_TOKENS} tokens per request, greedy: **${fmt(single)} tokens/s** on one sequence, **${fmt(parallel)} tokens/s** on ${sequences} parallel sequences (${REQUESTS} requests)`,
    ]);
  } finally {
    await engine.close();
  }
} finally {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
}
