import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { ENDPOINTS, type Endpoint } from '../engines/engine.js';

const endpointSchema = z.enum(ENDPOINTS);

const modelSchema = z
  .object({
    id: z.string().min(1),
    engine: z.enum(['llama', 'openai', 'mistral', 'echo']),
    /** GGUF file for `llama`. */
    path: z.string().min(1).optional(),
    /** Base URL (ending in /v1) for `openai` and `mistral`. */
    url: z.string().url().optional(),
    upstream_model: z.string().min(1).optional(),
    api_key: z.string().optional(),
    endpoints: z.array(endpointSchema).min(1).optional(),
    max_in_flight: z.number().int().positive().optional(),
    /** USD per million tokens at the online price; batch work is billed at (1 - batch_discount). */
    input_price_per_mtok: z.number().nonnegative().optional(),
    output_price_per_mtok: z.number().nonnegative().optional(),
    context_length: z.number().int().positive().optional(),
    /**
     * For `openai` upstreams whose /v1/completions has no `suffix` (vLLM, llama.cpp server):
     * FIM is sent as one prompt built from this template, e.g. "[SUFFIX]{suffix}[PREFIX]{prefix}"
     * for Codestral or "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>" for Qwen coders.
     */
    fim_template: z
      .string()
      .refine((t) => t.includes('{prefix}') && t.includes('{suffix}'), 'must contain both {prefix} and {suffix}')
      .optional(),
    description: z.string().optional(),
  })
  // A misspelt field would otherwise be ignored without a word: name it at start-up instead.
  .strict()
  .superRefine((m, ctx) => {
    if (m.engine === 'llama' && !m.path) ctx.addIssue({ code: 'custom', path: ['path'], message: 'engine "llama" needs "path" to a GGUF file' });
    if ((m.engine === 'openai' || m.engine === 'mistral') && !m.url) ctx.addIssue({ code: 'custom', path: ['url'], message: `engine "${m.engine}" needs "url"` });
    if (m.fim_template && m.engine !== 'openai') ctx.addIssue({ code: 'custom', path: ['fim_template'], message: `only engine "openai" uses a FIM template (engine "${m.engine}" does FIM natively)` });
  });

const fileSchema = z.object({
  models: z.array(modelSchema).default([]),
  batch_discount: z.number().min(0).max(1).optional(),
  /** Per-workspace settings: a spend limit checked when a job is admitted. */
  workspaces: z.record(z.object({ spend_limit_usd: z.number().nonnegative().optional() }).strict()).optional(),
}).strict();

export interface ModelEntry {
  id: string;
  engine: 'llama' | 'openai' | 'mistral' | 'echo';
  path?: string;
  url?: string;
  upstream_model?: string;
  api_key?: string;
  endpoints: Endpoint[];
  max_in_flight: number;
  input_price_per_mtok: number;
  output_price_per_mtok: number;
  context_length: number;
  fim_template?: string;
  description?: string;
}

export interface ModelRegistry {
  models: ModelEntry[];
  batchDiscount: number;
  spendLimits: Record<string, number>;
  get(id: string): ModelEntry | undefined;
}

const CHAT: Endpoint[] = ['/v1/chat/completions', '/v1/fim/completions', '/v1/moderations', '/v1/chat/moderations'];

/** The names Mistral's docs use, all served by the embedded default model, so the docs' code runs unchanged. */
function defaultModels(defaultModelPath: string): ModelEntry[] {
  const llama = (id: string, endpoints: Endpoint[], inPrice: number, outPrice: number, description: string): ModelEntry => ({
    id,
    engine: 'llama',
    path: defaultModelPath,
    endpoints,
    max_in_flight: 16,
    input_price_per_mtok: inPrice,
    output_price_per_mtok: outPrice,
    context_length: 2048,
    description,
  });
  return [
    llama('mistral-small-latest', CHAT, 0.1, 0.3, 'Embedded default model standing in for mistral-small-latest'),
    llama('mistral-large-latest', CHAT, 2, 6, 'Embedded default model standing in for mistral-large-latest'),
    llama('ministral-8b-latest', CHAT, 0.1, 0.1, 'Embedded default model standing in for ministral-8b-latest'),
    llama('codestral-latest', CHAT, 0.3, 0.9, 'Embedded default model standing in for codestral-latest'),
    llama('mistral-embed', ['/v1/embeddings'], 0.1, 0, 'Embedded default model producing embeddings'),
    llama('mistral-moderation-latest', ['/v1/moderations', '/v1/chat/moderations'], 0.1, 0, 'Guard-model moderation on the embedded default model'),
  ];
}

function normalise(raw: z.infer<typeof modelSchema>): ModelEntry {
  return {
    id: raw.id,
    engine: raw.engine,
    path: raw.path,
    url: raw.url?.replace(/\/+$/, ''),
    upstream_model: raw.upstream_model,
    api_key: raw.api_key,
    endpoints: raw.endpoints ?? (raw.engine === 'llama' || raw.engine === 'echo' ? [...CHAT, '/v1/embeddings'] : ['/v1/chat/completions']),
    max_in_flight: raw.max_in_flight ?? (raw.engine === 'llama' ? 16 : 64),
    input_price_per_mtok: raw.input_price_per_mtok ?? 0,
    output_price_per_mtok: raw.output_price_per_mtok ?? 0,
    context_length: raw.context_length ?? 2048,
    fim_template: raw.fim_template,
    description: raw.description,
  };
}

/** Reads a registry file (JSON, or YAML by extension); errors name the file and the field. */
export function readRegistryFile(file: string): z.infer<typeof fileSchema> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read model config ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new Error(`model config ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
  const result = fileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`model config ${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return result.data;
}

export interface RegistryOptions {
  defaultModelPath: string;
  configPath: string | null;
  modelFiles: { id: string; path: string }[];
}

/** Built-in defaults, then the config file, then `--model` flags; a later entry replaces an earlier one of the same id. */
export function buildRegistry(opts: RegistryOptions): ModelRegistry {
  const byId = new Map<string, ModelEntry>();
  for (const m of defaultModels(opts.defaultModelPath)) byId.set(m.id, m);
  let batchDiscount = 0.5;
  const spendLimits: Record<string, number> = {};
  if (opts.configPath) {
    const file = readRegistryFile(opts.configPath);
    for (const m of file.models) byId.set(m.id, normalise(m));
    if (file.batch_discount !== undefined) batchDiscount = file.batch_discount;
    for (const [ws, settings] of Object.entries(file.workspaces ?? {})) {
      if (settings.spend_limit_usd !== undefined) spendLimits[ws] = settings.spend_limit_usd;
    }
  }
  for (const f of opts.modelFiles) byId.set(f.id, normalise({ id: f.id, engine: 'llama', path: f.path }));
  const models = [...byId.values()];
  return { models, batchDiscount, spendLimits, get: (id) => byId.get(id) };
}

/** What a job's tokens cost at batch price (USD). */
export function batchCost(registry: ModelRegistry, modelId: string, promptTokens: number, completionTokens: number): number | null {
  const m = registry.get(modelId);
  if (!m) return null;
  return ((promptTokens * m.input_price_per_mtok + completionTokens * m.output_price_per_mtok) / 1e6) * (1 - registry.batchDiscount);
}
