import os from 'node:os';
import path from 'node:path';
import type { LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { GPU_SETTINGS, recordModel, type GpuSetting } from './backend.js';
import { contextNeeds, planContextSize } from './context-plan.js';
import { Embedder } from './embed.js';
import { Grammars } from './generate.js';
import { Guard } from './guard.js';
import { validateModelFile } from './model-file.js';
import type { PrefixReuseOption } from './prefix-reuse.js';
import { createFormatter, type PromptFormatter } from './prompts.js';
import { disposeLlama, loadLlama, loadModelFile } from './runtime.js';
import { SlotPool } from './sequence-pool.js';
import { longestTokenChars } from './token-bound.js';
import { Tokenizer } from './tokenizer.js';

export interface LlamaOptions extends PrefixReuseOption {
  /** CPU threads per context. 1 measured best on 2 cores (bench/results/embedded-sweep.md). */
  threads?: number;
  /** Parallel sequences decoded together: the continuous-batching width (in all, across contexts). */
  sequences?: number;
  /** Contexts the sequences are spread over on the CPU; each decodes on its own threads, so two of one thread use two cores. On a GPU one context holds every sequence. */
  contexts?: number;
  /**
   * Tokens per sequence (prompt + completion). Capped by the model's training context.
   * 8192 holds the longest line of Mistral's batch example (6,003 tokens on the default model).
   * Ignored when `contextFromModel` is set.
   */
  contextSize?: number;
  /** Embedding contexts run side by side. */
  embeddingContexts?: number;
  /**
   * Size each sequence from the model instead of `contextSize`: its trained context,
   * capped by what `memoryBytes` holds for every sequence (the server's default, unless
   * BATCHD_LLAMA_CONTEXT is set).
   */
  contextFromModel?: boolean;
  /** Bytes the chat contexts' KV caches may take in all (BATCHD_LLAMA_MEMORY_MB), when the context comes from the model. */
  memoryBytes?: number;
  /** Which llama.cpp build runs the model (BATCHD_LLAMA_GPU); the first model loaded in a process decides for all. */
  gpu?: GpuSetting;
}

/**
 * Measured on 2 cores (bench/results/embedded-sweep.md): one thread per context (two were
 * 20-50x slower), two contexts (1.3-1.6x the tokens/s of one at 16-32 sequences), two
 * embedding contexts (1.4x). More contexts than cores only adds contention.
 */
const CORES = Math.max(1, Math.min(2, os.availableParallelism()));
/** A quarter of the machine's memory for KV caches, unless BATCHD_LLAMA_MEMORY_MB says otherwise. */
export const DEFAULT_MEMORY_BYTES = Math.floor(os.totalmem() / 4);
export const LLAMA_DEFAULTS: Required<LlamaOptions> = {
  threads: 1,
  sequences: 16,
  contexts: CORES,
  contextSize: 8192,
  embeddingContexts: CORES,
  contextFromModel: false,
  memoryBytes: DEFAULT_MEMORY_BYTES,
  gpu: 'auto',
  prefixReuse: true,
};

const INTEGER_OPTIONS = ['threads', 'sequences', 'contexts', 'contextSize', 'embeddingContexts', 'memoryBytes'] as const;

function resolveOptions(opts: LlamaOptions): Required<LlamaOptions> {
  const o = { ...LLAMA_DEFAULTS };
  for (const key of INTEGER_OPTIONS) {
    const v = opts[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1) throw new Error(`llama engine option ${key} must be a positive integer, got ${v}`);
    o[key] = v;
  }
  if (o.contextSize < 16) throw new Error(`llama engine option contextSize must be at least 16, got ${o.contextSize}`);
  if (opts.gpu !== undefined) {
    if (!GPU_SETTINGS.includes(opts.gpu)) throw new Error(`llama engine option gpu must be one of ${GPU_SETTINGS.join(', ')}, got ${String(opts.gpu)}`);
    o.gpu = opts.gpu;
  }
  if (opts.contextFromModel !== undefined) o.contextFromModel = opts.contextFromModel;
  if (opts.prefixReuse !== undefined) o.prefixReuse = opts.prefixReuse;
  return o;
}

/** Everything loaded for one GGUF file, shared by every registry entry naming it. */
export interface LoadedModel {
  model: LlamaModel;
  formatter: PromptFormatter;
  grammars: Grammars;
  guard: Guard;
  /** Request tokenization: bounded before it starts, large inputs off the event loop. */
  tokenizer: Tokenizer;
  pool: SlotPool<LlamaContextSequence>;
  /** Tokens per sequence, as llama.cpp sized it. */
  contextSize: number;
  sequences: number;
  embedder(): Promise<Embedder>;
  dispose(): Promise<void>;
}

async function load(file: string, o: Required<LlamaOptions>): Promise<LoadedModel> {
  const needs = contextNeeds(await validateModelFile(file));
  const planned = planContextSize(needs, { sequences: o.sequences, memoryBytes: o.memoryBytes, override: o.contextFromModel ? undefined : o.contextSize });
  const onGpu = (await loadLlama(o.gpu)).gpu !== false;
  // On a GPU, as many layers as fit beside the KV cache of every sequence.
  const model = await loadModelFile(file, { gpu: o.gpu, fitContext: planned * o.sequences });
  const contexts: LlamaContext[] = [];
  try {
    // On a GPU one context holds every sequence, so each decode step is one batch for the
    // device. On the CPU, one-thread contexts side by side are how several cores get used.
    const offloaded = onGpu && model.gpuLayers > 0;
    const count = offloaded ? 1 : Math.min(o.contexts, o.sequences);
    const perContext = Math.ceil(o.sequences / count);
    // A GPU context shrinks to what video memory holds (never below 256 tokens); a CPU one is made as planned or fails.
    const contextSize = offloaded ? { min: Math.min(256, planned), max: planned } : planned;
    for (let i = 0; i < count; i++)
      contexts.push(await model.createContext({ sequences: perContext, contextSize, threads: o.threads, flashAttention: onGpu ? 'auto' : false }));
    // Interleaved, so that light load is spread over every context (and core) too.
    const sequences = Array.from({ length: o.sequences }, (_, i) => contexts[i % count]!.getSequence());
    const formatter = createFormatter(model);
    const actualSize = sequences[0]!.contextSize;
    const guard = new Guard(model, formatter);
    const tokenizer = new Tokenizer({ model, formatter, guard }, file, actualSize, longestTokenChars(model));
    const key = path.resolve(file);
    recordModel(key, {
      file: path.basename(file),
      gpuLayers: model.gpuLayers,
      totalLayers: model.fileInsights.totalLayers,
      contextSize: actualSize,
      trainedContextSize: model.trainContextSize,
      sequences: o.sequences,
      contexts: count,
    });
    // Created on first use: embedding contexts cost memory a chat-only deployment never needs.
    let embedder: Promise<Embedder> | null = null;
    return {
      model,
      formatter,
      grammars: new Grammars(await loadLlama()),
      guard,
      tokenizer,
      pool: new SlotPool(sequences),
      contextSize: actualSize,
      sequences: o.sequences,
      embedder: () =>
        (embedder ??= Promise.all(
          Array.from({ length: o.embeddingContexts }, () => model.createEmbeddingContext({ threads: o.threads, contextSize: actualSize })),
        ).then((ctxs) => new Embedder(tokenizer, ctxs, actualSize))),
      dispose: async () => {
        recordModel(key, null);
        await tokenizer.close();
        if (embedder) await (await embedder.catch(() => null))?.dispose();
        await Promise.all(contexts.map((c) => c.dispose()));
        await model.dispose();
      },
    };
  } catch (err) {
    await Promise.allSettled(contexts.map((c) => c.dispose()));
    await model.dispose();
    throw new Error(`model file ${file}: cannot create a context: ${(err as Error).message}`);
  }
}

const loaded = new Map<string, { model: Promise<LoadedModel>; users: number }>();

/**
 * The loaded model for `file`, loading it on first use; counted as one more user until
 * `release`. The count changes synchronously, so a release racing an acquire of the
 * same file never disposes a model that is about to be used.
 */
export function acquireModel(file: string, opts: LlamaOptions): { key: string; model: Promise<LoadedModel> } {
  const key = path.resolve(file);
  let entry = loaded.get(key);
  if (!entry) {
    const created = { model: load(file, resolveOptions(opts)), users: 0 };
    loaded.set(key, (entry = created));
    created.model.catch(() => loaded.get(key) === created && loaded.delete(key));
  }
  entry.users++;
  return { key, model: entry.model };
}

export async function releaseModel(key: string): Promise<void> {
  const entry = loaded.get(key);
  if (!entry || --entry.users > 0) return;
  loaded.delete(key);
  await (await entry.model.catch(() => null))?.dispose();
}

/** Disposes every loaded model and the native backend, whatever engines still hold them (shutdown, tests). */
export async function closeAllModels(): Promise<void> {
  const all = [...loaded.values()];
  loaded.clear();
  await Promise.allSettled(all.map(async (e) => (await e.model).dispose()));
  await disposeLlama();
}
