import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { ENDPOINTS, type Endpoint } from '../engines/endpoints.js';
import { mistralCapabilitiesSchema, mistralCatalogue, type CatalogueModel, type MistralCapabilities, type ModelType } from './catalogue.js';

export type { MistralCapabilities, ModelType } from './catalogue.js';

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
    /** Overrides what GET /v1/models says the model can do (default: derived from `endpoints`). */
    capabilities: mistralCapabilitiesSchema.partial().optional(),
  })
  // A misspelt field would otherwise be ignored without a word: name it at start-up instead.
  .strict()
  .superRefine((m, ctx) => {
    if (m.engine === 'llama' && !m.path) ctx.addIssue({ code: 'custom', path: ['path'], message: 'engine "llama" needs "path" to a GGUF file' });
    if (isUpstreamEngine(m.engine) && !m.url) ctx.addIssue({ code: 'custom', path: ['url'], message: `engine "${m.engine}" needs "url"` });
    if (m.fim_template && m.engine !== 'openai')
      ctx.addIssue({ code: 'custom', path: ['fim_template'], message: `only engine "openai" uses a FIM template (engine "${m.engine}" does FIM natively)` });
  });

/** Engines that call a server over HTTP (an OpenAI-compatible one, or Mistral's API). */
export function isUpstreamEngine(engine: ModelEntry['engine']): boolean {
  return engine === 'openai' || engine === 'mistral';
}

const fileSchema = z
  .object({
    models: z.array(modelSchema).default([]),
    batch_discount: z.number().min(0).max(1).optional(),
    /** Per-workspace settings: a spend limit checked when a job is admitted; storage quotas overriding BATCHD_MAX_STORAGE_BYTES / BATCHD_MAX_FILES (0 = none). */
    workspaces: z
      .record(
        z
          .object({
            spend_limit_usd: z.number().nonnegative().optional(),
            max_storage_bytes: z.number().int().nonnegative().optional(),
            max_files: z.number().int().nonnegative().optional(),
            /** Where the workspace's jobs POST their terminal state when they name no webhook_url (webhooks/). */
            webhook_url: z.string().url().optional(),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();

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
  // The fields below are always set by buildRegistry(); they are optional only so that
  // entries built by hand (engine tests, benchmarks) need not spell them out.
  /** The model's other names (Mistral's aliases), without this entry's own id. */
  aliases?: string[];
  /** The id all names of this model share: Mistral's canonical id, or the entry's own id. */
  canonical_id?: string;
  type?: ModelType;
  /** What batchd serves under this entry (GET /v1/models reports these). */
  capabilities?: ModelCapabilities;
  /**
   * What Mistral's model of this name can do, for catalogue entries: the embedded engine
   * can say e.g. "pixtral-12b needs vision, which the embedded engine lacks".
   */
  mistral_capabilities?: MistralCapabilities;
  /** Mistral's context length for the model; `context_length` is what this server serves. */
  mistral_context_length?: number;
  /** Mistral's deprecation of the model (catalogue entries only). */
  deprecation?: CatalogueModel['deprecation'];
  /** Vector size of an embedding model. */
  embedding_dimension?: number;
}

/** The same flags as Mistral's, for what batchd serves. */
export type ModelCapabilities = MistralCapabilities;

export interface ModelRegistry {
  models: ModelEntry[];
  batchDiscount: number;
  spendLimits: Record<string, number>;
  /** Per-workspace storage quotas from the registry file, overriding the server-wide limits. */
  storageQuotas: Map<string, { maxStorageBytes?: number; maxFiles?: number }>;
  /** Per-workspace default webhook URLs from the registry file (jobs naming none use it). */
  webhookDefaults?: Map<string, string>;
  get(id: string): ModelEntry | undefined;
}

/** Chat models also moderate, as a guard classifier over the same model. */
const CHAT: Endpoint[] = ['/v1/chat/completions', '/v1/fim/completions', '/v1/moderations', '/v1/chat/moderations'];
const MODERATION: Endpoint[] = ['/v1/moderations', '/v1/chat/moderations', '/v1/classifications', '/v1/chat/classifications'];
const CLASSIFYING = new Set<Endpoint>(MODERATION);

/** The embedded engine's context per request unless the server says otherwise. */
export const DEFAULT_CONTEXT_LENGTH = 8192;

function endpointsFor(m: CatalogueModel): Endpoint[] {
  if (m.type === 'embedding') return ['/v1/embeddings'];
  if (m.type === 'moderation') return [...MODERATION];
  return CHAT.filter((e) => e !== '/v1/fim/completions' || m.capabilities.completion_fim);
}

/**
 * What the embedded engine really does for a Mistral model: tool calls and structured
 * outputs through grammar-constrained generation, FIM where Mistral offers it, no images.
 */
function embeddedCapabilities(m: CatalogueModel): ModelCapabilities {
  const chat = m.type === 'chat';
  const moderation = m.type === 'moderation';
  return {
    completion_chat: chat,
    completion_fim: chat && m.capabilities.completion_fim,
    function_calling: chat,
    structured_outputs: chat,
    vision: false,
    reasoning: chat && m.capabilities.reasoning,
    classification: moderation,
    moderation,
  };
}

/**
 * Every public Mistral model id and alias (src/models/mistral-models.json), each an entry
 * of its own on the embedded engine, so code written for Mistral's API runs unchanged.
 */
function defaultModels(opts: RegistryOptions): ModelEntry[] {
  const contextLength = opts.defaultContextLength ?? DEFAULT_CONTEXT_LENGTH;
  return mistralCatalogue().models.flatMap((m) => {
    const names = [m.id, ...m.aliases];
    const path = m.type === 'embedding' && opts.embeddingModelPath ? opts.embeddingModelPath(m.embedding_dimension!) : opts.defaultModelPath;
    const shared = {
      engine: 'llama' as const,
      path,
      endpoints: endpointsFor(m),
      max_in_flight: 16,
      input_price_per_mtok: m.input_price_per_mtok,
      output_price_per_mtok: m.output_price_per_mtok,
      context_length: contextLength,
      description: `${m.name} (${m.description.replace(/\.$/, '')}), stood in for by batchd's embedded engine.`,
      canonical_id: m.id,
      type: m.type,
      capabilities: embeddedCapabilities(m),
      mistral_capabilities: m.capabilities,
      mistral_context_length: m.max_context_length,
      deprecation: m.deprecation,
      ...(m.embedding_dimension !== undefined ? { embedding_dimension: m.embedding_dimension } : {}),
    };
    return names.map((id): ModelEntry => ({ id, aliases: names.filter((n) => n !== id), ...shared, endpoints: [...shared.endpoints] }));
  });
}

/** For entries of a registry file: the flags their endpoints imply, then the file's own. */
function configCapabilities(endpoints: Endpoint[], given: Partial<ModelCapabilities> | undefined): ModelCapabilities {
  const chat = endpoints.includes('/v1/chat/completions');
  const classifies = endpoints.some((e) => CLASSIFYING.has(e));
  return {
    completion_chat: chat,
    completion_fim: endpoints.includes('/v1/fim/completions'),
    function_calling: chat,
    structured_outputs: chat,
    vision: false,
    reasoning: false,
    classification: classifies,
    moderation: classifies,
    ...given,
  };
}

/** What an entry serves; entries built by hand without flags get those their endpoints imply. */
export function servedCapabilities(m: ModelEntry): ModelCapabilities {
  return m.capabilities ?? configCapabilities(m.endpoints, undefined);
}

function typeOf(endpoints: Endpoint[]): ModelType {
  if (endpoints.includes('/v1/chat/completions') || endpoints.includes('/v1/fim/completions')) return 'chat';
  return endpoints.includes('/v1/embeddings') ? 'embedding' : 'moderation';
}

function normalise(raw: z.infer<typeof modelSchema>): ModelEntry {
  const endpoints = raw.endpoints ?? (raw.engine === 'llama' || raw.engine === 'echo' ? [...CHAT, '/v1/embeddings'] : ['/v1/chat/completions']);
  return {
    id: raw.id,
    engine: raw.engine,
    path: raw.path,
    url: raw.url?.replace(/\/+$/, ''),
    upstream_model: raw.upstream_model,
    api_key: raw.api_key,
    endpoints,
    max_in_flight: raw.max_in_flight ?? (raw.engine === 'llama' ? 16 : 64),
    input_price_per_mtok: raw.input_price_per_mtok ?? 0,
    output_price_per_mtok: raw.output_price_per_mtok ?? 0,
    context_length: raw.context_length ?? 2048,
    fim_template: raw.fim_template,
    description: raw.description,
    aliases: [],
    canonical_id: raw.id,
    type: typeOf(endpoints),
    capabilities: configCapabilities(endpoints, raw.capabilities),
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
  /** The GGUF the embedded engine serves Mistral's chat and moderation models with. */
  defaultModelPath: string;
  /** The GGUF for Mistral's embedding models of a dimension (1024, 1536); else defaultModelPath. */
  embeddingModelPath?: (dimension: number) => string;
  /** The embedded engine's context per request, reported as the built-in entries' context_length (default 8192). */
  defaultContextLength?: number;
  configPath: string | null;
  modelFiles: { id: string; path: string }[];
}

/** Built-in defaults, then the config file, then `--model` flags; a later entry replaces an earlier one of the same id. */
export function buildRegistry(opts: RegistryOptions): ModelRegistry {
  const byId = new Map<string, ModelEntry>();
  for (const m of defaultModels(opts)) byId.set(m.id, m);
  let batchDiscount = 0.5;
  const spendLimits: Record<string, number> = {};
  const storageQuotas: ModelRegistry['storageQuotas'] = new Map();
  const webhookDefaults = new Map<string, string>();
  if (opts.configPath) {
    const file = readRegistryFile(opts.configPath);
    for (const m of file.models) byId.set(m.id, normalise(m));
    if (file.batch_discount !== undefined) batchDiscount = file.batch_discount;
    for (const [ws, settings] of Object.entries(file.workspaces ?? {})) {
      if (settings.spend_limit_usd !== undefined) spendLimits[ws] = settings.spend_limit_usd;
      if (settings.webhook_url !== undefined) webhookDefaults.set(ws, settings.webhook_url);
      if (settings.max_storage_bytes !== undefined || settings.max_files !== undefined) {
        storageQuotas.set(ws, { maxStorageBytes: settings.max_storage_bytes, maxFiles: settings.max_files });
      }
    }
  }
  for (const f of opts.modelFiles) byId.set(f.id, normalise({ id: f.id, engine: 'llama', path: f.path }));
  // A name taken over by the file or a flag is no longer an alias of its Mistral siblings.
  for (const m of byId.values()) m.aliases = m.aliases?.filter((a) => byId.get(a)?.canonical_id === m.canonical_id);
  const models = [...byId.values()];
  return { models, batchDiscount, spendLimits, storageQuotas, webhookDefaults, get: (id) => byId.get(id) };
}

/** What a job's tokens cost at batch price (USD). */
export function batchCost(registry: ModelRegistry, modelId: string, promptTokens: number, completionTokens: number): number | null {
  const m = registry.get(modelId);
  if (!m) return null;
  return ((promptTokens * m.input_price_per_mtok + completionTokens * m.output_price_per_mtok) / 1e6) * (1 - registry.batchDiscount);
}
