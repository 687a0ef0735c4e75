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
        tokens += this.model.tokenize(text).length;
        const vector = normalise([...(await this.context.getEmbeddingFor(text)).vector].slice(0, typeof dim === 'number' ? dim : undefined));
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

function normalise(v: number[]): number[] {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}
