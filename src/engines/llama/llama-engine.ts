import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import type { ModelEntry } from '../../models/registry.js';
import type { Engine, EngineRequest, EngineResult } from '../engine.js';
import { moderationResponse, moderationTexts } from '../moderation.js';
import { Embedder } from './embed.js';
import { completionBody, generate, samplingOf } from './generate.js';
import { guardScores } from './guard.js';
import { chatTokens, fimTokens } from './prompts.js';
import { acquireModel, loadLlama, releaseModel } from './runtime.js';
import { SequencePool } from './sequence-pool.js';

export interface LlamaOptions {
  /** CPU threads for the context (1 measured best for small models on 2 cores). */
  threads: number;
  /** Parallel sequences: requests decoded together in one batch. */
  sequences: number;
  /** Tokens per sequence (prompt + completion). */
  contextSize: number;
}

interface Shared {
  model: LlamaModel;
  pool: SequencePool;
  readonly embedder: Promise<Embedder>;
  users: number;
  dispose(): Promise<void>;
}

/** Entries naming the same GGUF share one model, one context, one sequence pool. */
const shared = new Map<string, Promise<Shared>>();

async function open(path: string, opts: LlamaOptions): Promise<Shared> {
  const model = await acquireModel(path);
  try {
    const contextSize = Math.min(opts.contextSize, model.trainContextSize);
    const context = await model.createContext({ sequences: opts.sequences, contextSize, threads: opts.threads });
    // Created on first use: an embedding context costs memory a chat-only deployment never needs.
    let embedding: Promise<LlamaEmbeddingContext> | null = null;
    let embedder: Promise<Embedder> | null = null;
    return {
      model,
      pool: new SequencePool(context, opts.sequences),
      get embedder() {
        embedding ??= model.createEmbeddingContext({ threads: opts.threads, contextSize });
        return (embedder ??= embedding.then((ctx) => new Embedder(model, ctx)));
      },
      users: 0,
      dispose: async () => {
        if (embedding) await (await embedding).dispose();
        await context.dispose();
        await releaseModel(path);
      },
    } satisfies Shared;
  } catch (err) {
    await releaseModel(path);
    throw new Error(`model file ${path}: cannot create a context: ${(err as Error).message}`);
  }
}

/**
 * The embedded engine: llama.cpp in-process. Chat and FIM run on a pool of parallel
 * sequences (continuous batching), embeddings on an embedding context, moderation as a
 * guard classifier over the same chat model.
 */
export async function createLlamaEngine(entry: ModelEntry, opts: LlamaOptions): Promise<Engine> {
  const path = entry.path!;
  let s = shared.get(path);
  if (!s) {
    s = open(path, opts);
    shared.set(path, s);
    s.catch(() => shared.delete(path));
  }
  const rt = await s;
  rt.users++;
  const llama = await loadLlama();
  const defaultMaxTokens = 512;

  async function withSequence<T>(req: EngineRequest, signal: AbortSignal, fn: (seq: Awaited<ReturnType<SequencePool['acquire']>>) => Promise<T>): Promise<T> {
    const seq = await rt.pool.acquire(req.priority, signal);
    try {
      return await fn(seq);
    } finally {
      await rt.pool.release(seq);
    }
  }

  async function complete(req: EngineRequest, signal: AbortSignal, onText?: (delta: string) => void): Promise<EngineResult> {
    const name = typeof req.body.model === 'string' ? req.body.model : entry.id;
    const prompt = req.endpoint === '/v1/fim/completions' ? fimTokens(rt.model, req.body.prompt, req.body.suffix) : chatTokens(rt.model, req.body.messages);
    const sampling = samplingOf(req.body, defaultMaxTokens);
    const g = await withSequence(req, signal, (seq) => generate(llama, rt.model, seq, prompt, sampling, signal, onText));
    return { status_code: 200, usage: g.usage, body: completionBody(name, g) };
  }

  async function execute(req: EngineRequest, signal: AbortSignal): Promise<EngineResult> {
    const name = typeof req.body.model === 'string' ? req.body.model : entry.id;
    switch (req.endpoint) {
      case '/v1/chat/completions':
      case '/v1/fim/completions':
        return complete(req, signal);
      case '/v1/embeddings':
        return (await rt.embedder).embed(req.body, name, signal);
      default: {
        const texts = moderationTexts(req.endpoint, req.body);
        const results = await withSequence(req, signal, async (seq) => {
          const all = [];
          for (const text of texts) {
            all.push(await guardScores(rt.model, seq, text, signal));
            await seq.clearHistory();
          }
          return all;
        });
        const tokens = results.reduce((n, r) => n + r.tokens, 0);
        const usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens };
        return { status_code: 200, usage, body: moderationResponse(name, results.map((r) => r.scores), usage) };
      }
    }
  }

  let closed = false;
  return {
    maxInFlight: opts.sequences,
    execute,
    stream: (req, signal, onDelta) => complete(req, signal, onDelta),
    close: async () => {
      if (closed) return;
      closed = true;
      if (--rt.users > 0) return;
      shared.delete(path);
      await rt.dispose();
    },
  };
}
