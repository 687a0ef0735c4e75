import { batchCost, type ModelEntry } from '../models/registry.js';
import type { Endpoint, Engine, EngineRequest } from '../engines/engine.js';
import { lineFormatOf } from '../dialects/line-formats.js';
import { LineRequestError } from '../dialects/types.js';
import { discardHiddenInput } from './job-inputs.js';
import { checkTotal, prepareJob } from './job-create.js';
import type { CreateJobBody } from './batch-jobs.schemas.js';
import type { AppContext } from './context.js';

/**
 * Characters per token where no tokenizer counts (upstream engines, embedding and
 * classifier inputs): a common rule of thumb for English text with BPE vocabularies.
 */
export const CHARS_PER_TOKEN = 4;

/** What a job would cost, before it is created (POST /v1/batch/jobs with dry_run, or /v1/batch/jobs/estimate). */
export interface JobEstimate {
  object: 'batch.estimate';
  endpoint: string;
  model: string;
  total_requests: number;
  /** Prompt tokens of every request: exact where `prompt_tokens_exact`, else partly approximated. */
  prompt_tokens: number;
  prompt_tokens_exact: boolean;
  /** Requests whose prompt was approximated (CHARS_PER_TOKEN characters per token). */
  approximated_requests: number;
  /** The most completion tokens the job can produce: each request's max_tokens × n, else what its context leaves. */
  max_completion_tokens: number;
  /** Lines that would fail before reaching the model (a body the job's API refuses). */
  invalid_requests: number;
  /** At the registry's prices less the batch discount: prompt only (min) to prompt plus every completion bound (max). */
  cost_usd: { min: number | null; max: number | null };
  batch_discount: number;
  price_per_mtok: { input: number; output: number };
}

/**
 * Validates the body exactly as a create would (prepareJob, checkTotal), reads every
 * request once, streamed, and counts its prompt tokens with the model's tokenizer
 * where the engine has one (the embedded engine, chat and FIM), else approximately.
 * Nothing is created: an inline job's staged input is discarded again.
 */
export async function estimateJob(ctx: AppContext, workspace: string, keyId: string, body: CreateJobBody): Promise<JobEstimate> {
  const now = ctx.clock.now();
  const { spec, input } = await prepareJob(ctx, workspace, keyId, body, now);
  try {
    checkTotal(ctx, spec, input);
    const entry = ctx.registry.get(spec.model)!;
    const endpoint = spec.endpoint as Endpoint;
    const engine = ctx.online ? await ctx.online.engines.get(entry).catch(() => null) : null;
    const format = lineFormatOf(spec.dialect, endpoint);
    const signal = new AbortController().signal;
    let prompt = 0;
    let completion = 0;
    let approximated = 0;
    let invalid = 0;
    for await (const line of ctx.queue.inputLines(input.inputs)) {
      if (!line.request) {
        invalid++;
        continue;
      }
      let request: Record<string, unknown>;
      try {
        request = { ...format.request(line.request.body, endpoint), model: entry.id };
      } catch (err) {
        if (!(err instanceof LineRequestError)) throw err;
        invalid++;
        continue;
      }
      let tokens = await exactPromptTokens(engine, { endpoint, body: request, model: entry, priority: 'batch' }, signal);
      if (tokens === null) {
        tokens = Math.ceil(requestChars(request) / CHARS_PER_TOKEN);
        approximated++;
      }
      prompt += tokens;
      completion += completionBound(endpoint, request, entry, tokens);
    }
    const cost = (c: number) => {
      const usd = batchCost(ctx.registry, entry.id, prompt, c);
      return usd === null ? null : Math.round(usd * 1e6) / 1e6;
    };
    return {
      object: 'batch.estimate',
      endpoint,
      model: entry.id,
      total_requests: input.total,
      prompt_tokens: prompt,
      prompt_tokens_exact: approximated === 0,
      approximated_requests: approximated,
      max_completion_tokens: completion,
      invalid_requests: invalid,
      cost_usd: { min: cost(0), max: cost(completion) },
      batch_discount: ctx.registry.batchDiscount,
      price_per_mtok: { input: entry.input_price_per_mtok, output: entry.output_price_per_mtok },
    };
  } finally {
    if (spec.inputFiles.length === 0) await discardHiddenInput(ctx, input).catch(() => undefined);
  }
}

/** The engine's own count, or null where it has none (or refuses the request: it would fail, and costs nothing). */
async function exactPromptTokens(engine: Engine | null, req: EngineRequest, signal: AbortSignal): Promise<number | null> {
  if (!engine?.countPromptTokens) return null;
  try {
    return await engine.countPromptTokens(req, signal);
  } catch {
    return null;
  }
}

/** Completion tokens a request may produce: max_tokens per choice, or what the context leaves; none for embeddings and classifiers. */
function completionBound(endpoint: Endpoint, body: Record<string, unknown>, model: ModelEntry, promptTokens: number): number {
  if (endpoint !== '/v1/chat/completions' && endpoint !== '/v1/fim/completions') return 0;
  const n = typeof body.n === 'number' && body.n > 0 ? body.n : 1;
  const max = typeof body.max_tokens === 'number' && body.max_tokens >= 0 ? body.max_tokens : Math.max(0, model.context_length - promptTokens);
  return n * max;
}

/** The text characters a request sends: message contents, prompt and suffix, inputs. */
function requestChars(body: Record<string, unknown>): number {
  return textChars(body.messages) + textChars(body.prompt) + textChars(body.suffix) + textChars(body.input);
}

function textChars(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + textChars(x), 0);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return textChars(o.content) + textChars(o.text);
  }
  return 0;
}
