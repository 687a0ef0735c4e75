import fs from 'node:fs';
import type { GgufSummary } from './gguf/gguf-reader.js';
import { validateModelFile } from './model-file.js';

// No node-llama-cpp here: the server plans (and /v1/models reports) a model's context from its header alone.

/** Contexts are whole multiples of llama.cpp's padding, so the size asked for is the size made. */
const PAD = 256;

/** What the header says about a model's context: its trained length and the KV cache a token costs. */
export interface ContextNeeds {
  /** `<arch>.context_length`: the context the model was trained on. */
  trained: number;
  /** Bytes of KV cache per token of one sequence (f16 keys and values, every layer); 0 for models without attention. */
  kvBytesPerToken: number;
}

export function contextNeeds(info: GgufSummary): ContextNeeds {
  const meta = info.metadata;
  const arch = String(meta.get('general.architecture'));
  const num = (key: string): number | null => {
    const v = meta.get(`${arch}.${key}`);
    return typeof v === 'number' && v > 0 ? v : null;
  };
  const trained = num('context_length') ?? 2048;
  const layers = num('block_count') ?? 0;
  const heads = num('attention.head_count');
  const embedding = num('embedding_length') ?? 0;
  if (heads === null) return { trained, kvBytesPerToken: 0 };
  // A per-layer head_count_kv (an array) is read as the full head count: an overestimate, never an underestimate.
  const kvHeads = num('attention.head_count_kv') ?? heads;
  const keyLength = num('attention.key_length') ?? embedding / heads;
  const valueLength = num('attention.value_length') ?? embedding / heads;
  return { trained, kvBytesPerToken: layers * kvHeads * (keyLength + valueLength) * 2 };
}

export interface ContextSizing {
  /** Parallel sequences, each holding a whole context. */
  sequences: number;
  /** Bytes the KV caches of all sequences may take together (BATCHD_LLAMA_MEMORY_MB). */
  memoryBytes: number;
  /** Tokens per sequence asked for explicitly (BATCHD_LLAMA_CONTEXT): wins over the budget, still capped by the trained context. */
  override?: number;
}

/**
 * Tokens per sequence: the model's trained context, or as much of it as the memory
 * budget holds for every sequence (whole multiples of 256, at least 256 or the trained
 * context if smaller); an explicit override, capped by the trained context, wins.
 */
export function planContextSize(needs: ContextNeeds, s: ContextSizing): number {
  if (s.override !== undefined) return Math.min(s.override, needs.trained);
  if (needs.kvBytesPerToken === 0) return needs.trained;
  const fits = Math.floor(s.memoryBytes / (s.sequences * needs.kvBytesPerToken) / PAD) * PAD;
  return Math.min(needs.trained, Math.max(fits, PAD));
}

/**
 * Sets each embedded entry's `context_length` to the context its model will hold, as
 * loading it would size it, so /v1/models tells the truth before the first request (the
 * engine sets it again from the context llama.cpp made). Entries whose generated model
 * does not exist yet keep theirs.
 */
export async function reportPlannedContexts(
  entries: { engine: string; path?: string; context_length: number }[],
  opts: { sequences: number; memoryBytes: number; contextSize: number; contextFromModel: boolean },
): Promise<void> {
  const byFile = new Map<string, number>();
  for (const m of entries) {
    if (m.engine !== 'llama' || !m.path || !fs.existsSync(m.path)) continue;
    let size = byFile.get(m.path);
    if (size === undefined) {
      const needs = contextNeeds(await validateModelFile(m.path));
      size = planContextSize(needs, {
        sequences: opts.sequences,
        memoryBytes: opts.memoryBytes,
        override: opts.contextFromModel ? undefined : opts.contextSize,
      });
      byFile.set(m.path, size);
    }
    m.context_length = size;
  }
}
