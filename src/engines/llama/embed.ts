import { randomUUID } from 'node:crypto';
import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { invalidRequest, type EngineResult } from '../engine.js';

/**
 * Embeddings from the model's embedding context, one input after another on that
 * context (calls are chained, so concurrent requests never interleave on it). Vectors
 * are L2-normalised (llama.cpp's are not); `output_dimension` truncates, then renormalises.
 */
export class Embedder {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly model: LlamaModel, private readonly context: LlamaEmbeddingContext) {}

  async embed(body: Record<string, unknown>, modelName: string, signal: AbortSignal): Promise<EngineResult> {
    const input = body.input;
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
      throw invalidRequest('input', 'must be a string or a non-empty array of strings');
    }
    const dim = body.output_dimension;
    if (dim !== undefined && dim !== null && (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1)) throw invalidRequest('output_dimension', 'must be a positive integer');
    const base64 = body.encoding_format === 'base64';
    const run = this.chain.then(async () => {
      const data = [];
      let tokens = 0;
      for (const [index, text] of (texts as string[]).entries()) {
        if (signal.aborted) throw signal.reason;
        // Tokenized once: the same tokens are embedded and counted for usage.
        const input = this.model.tokenize(text);
        tokens += input.length;
        const vector = normalise((await this.context.getEmbeddingFor(input)).vector, typeof dim === 'number' ? dim : undefined);
        data.push({ object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector });
      }
      return { data, tokens };
    });
    this.chain = run.catch(() => undefined);
    const { data, tokens } = await run;
    const usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens };
    return { status_code: 200, usage, body: { id: randomUUID().replace(/-/g, ''), object: 'list', model: modelName, data, usage } };
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
