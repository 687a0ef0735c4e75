import os from 'node:os';
import path from 'node:path';
import type { LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { Embedder } from './embed.js';
import { Grammars } from './generate.js';
import { Guard } from './guard.js';
import { createFormatter, type PromptFormatter } from './prompts.js';
import { disposeLlama, loadLlama, loadModelFile } from './runtime.js';
import { SlotPool } from './sequence-pool.js';
import { longestTokenChars } from './token-bound.js';
import { Tokenizer } from './tokenizer.js';

export interface LlamaOptions {
  /** CPU threads per context. 1 measured best on 2 cores (bench/results/embedded-sweep.md). */
  threads?: number;
  /** Parallel sequences decoded together: the continuous-batching width (in all, across contexts). */
  sequences?: number;
  /** Contexts the sequences are spread over; each decodes on its own threads, so two of one thread use two cores. */
  contexts?: number;
  /**
   * Tokens per sequence (prompt + completion). Capped by the model's training context.
   * 8192 holds the longest line of Mistral's batch example (6,003 tokens on the default model).
   */
  contextSize?: number;
  /** Embedding contexts run side by side. */
  embeddingContexts?: number;
}

/**
 * Measured on 2 cores (bench/results/embedded-sweep.md): one thread per context (two were
 * 20-50x slower), two contexts (1.3-1.6x the tokens/s of one at 16-32 sequences), two
 * embedding contexts (1.4x). More contexts than cores only adds contention.
 */
const CORES = Math.max(1, Math.min(2, os.availableParallelism()));
export const LLAMA_DEFAULTS: Required<LlamaOptions> = { threads: 1, sequences: 16, contexts: CORES, contextSize: 8192, embeddingContexts: CORES };

function resolveOptions(opts: LlamaOptions): Required<LlamaOptions> {
  const o = { ...LLAMA_DEFAULTS };
  for (const key of Object.keys(LLAMA_DEFAULTS) as (keyof LlamaOptions)[]) {
    const v = opts[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1) throw new Error(`llama engine option ${key} must be a positive integer, got ${v}`);
    o[key] = v;
  }
  if (o.contextSize < 16) throw new Error(`llama engine option contextSize must be at least 16, got ${o.contextSize}`);
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
  const model = await loadModelFile(file);
  const contexts: LlamaContext[] = [];
  try {
    const count = Math.min(o.contexts, o.sequences);
    const contextSize = Math.min(o.contextSize, model.trainContextSize);
    for (let i = 0; i < count; i++) contexts.push(await model.createContext({ sequences: Math.ceil(o.sequences / count), contextSize, threads: o.threads }));
    // Interleaved, so that light load is spread over every context (and core) too.
    const sequences = Array.from({ length: o.sequences }, (_, i) => contexts[i % count]!.getSequence());
    const formatter = createFormatter(model);
    const actualSize = sequences[0]!.contextSize;
    const guard = new Guard(model, formatter);
    const tokenizer = new Tokenizer({ model, formatter, guard }, file, actualSize, longestTokenChars(model));
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
        await tokenizer.close();
        if (embedder) await (await embedder.catch(() => null))?.dispose();
        await Promise.all(contexts.map((c) => c.dispose()));
        await model.dispose();
      },
    };
  } catch (err) {
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
