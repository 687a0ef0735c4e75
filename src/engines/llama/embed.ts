import { randomUUID } from 'node:crypto';
import type { LlamaEmbeddingContext, Token } from 'node-llama-cpp';
import { invalidRequest, type EngineResult } from '../engine.js';
import { refusedRequest, contextTooLong } from './sampling.js';
import { SlotPool, type Priority } from './sequence-pool.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * Embeddings on a small pool of embedding contexts (one sequence each, as llama.cpp's
 * pooled embeddings are read per context). Every input takes a context of its own, so
 * a request's inputs, and concurrent requests, run on all contexts at once; online
 * inputs go first. Vectors are L2-normalised (llama.cpp's are not); `output_dimension`
 * truncates, then renormalises.
 */
export class Embedder {
  private readonly pool: SlotPool<LlamaEmbeddingContext>;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly contexts: LlamaEmbeddingContext[],
    private readonly contextSize: number,
  ) {
    this.pool = new SlotPool(contexts);
  }

  async embed(body: Record<string, unknown>, modelName: string, priority: Priority, signal: AbortSignal): Promise<EngineResult> {
    const input = body.input;
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
      throw invalidRequest('input', 'must be a string or a non-empty array of strings');
    }
    const dim = body.output_dimension;
    if (dim !== undefined && dim !== null && (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1))
      throw invalidRequest('output_dimension', 'must be a positive integer');
    if (body.output_dtype !== undefined && body.output_dtype !== null && body.output_dtype !== 'float')
      throw refusedRequest('output_dtype', "only 'float' is supported by the embedded engine");
    if (body.encoding_format !== undefined && body.encoding_format !== null && body.encoding_format !== 'float' && body.encoding_format !== 'base64') {
      throw invalidRequest('encoding_format', "must be 'float' or 'base64'");
    }
    // Tokenized once: the same tokens are checked, embedded and counted (with the BOS/EOS the context adds).
    const tokenized = await this.tokenizer.texts(texts as string[], signal);
    const inputs = tokenized.map((tokens, i) => {
      const length = this.contexts[0]!.calculateInputLength(tokens.slice());
      if (length >= this.contextSize)
        throw contextTooLong(
          'input',
          `input ${i} is ${length} tokens; this model's context holds ${this.contextSize} tokens, so it embeds at most ${this.contextSize - 1} per input`,
        );
      return { tokens, length };
    });
    const vectors = await Promise.all(inputs.map((x) => this.vector(x.tokens, priority, signal)));
    const base64 = body.encoding_format === 'base64';
    const data = vectors.map((v, index) => {
      const vector = normalise(v, typeof dim === 'number' ? dim : undefined);
      return { object: 'embedding', embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector, index };
    });
    const tokens = inputs.reduce((n, x) => n + x.length, 0);
    const usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens };
    return { status_code: 200, usage, body: { id: randomUUID().replace(/-/g, ''), object: 'list', model: modelName, data, usage } };
  }

  private async vector(tokens: Token[], priority: Priority, signal: AbortSignal): Promise<readonly number[]> {
    const ctx = await this.pool.acquire(priority, signal);
    try {
      return (await ctx.getEmbeddingFor(tokens)).vector;
    } finally {
      this.pool.release(ctx);
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.contexts.map((c) => c.dispose()));
  }
}

function normalise(v: readonly number[], dim?: number): number[] {
  const n = Math.min(dim ?? v.length, v.length);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum) || 1;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = v[i]! / norm;
  return out;
}
