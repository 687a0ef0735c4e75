import { openAiClientErrorPayload } from '../dialects/openai/errors.js';
import type { FastifyInstance } from 'fastify';
import { apiError } from '../errors.js';
import { servedCapabilities, type ModelEntry } from '../models/registry.js';
import type { AppContext } from './context.js';
import { idParams } from './query.js';
import type { ZodTypeProvider } from './zod-provider.js';

/** The embedded engine's temperature when a request has none (src/engines/llama/sampling.ts). */
const DEFAULT_TEMPERATURE = 0.3;

/**
 * Mistral's model card (`type: "base"`, as @mistralai/mistralai 2.7.0 parses it), telling
 * what this server serves: an alias is a card of its own whose `name` is the canonical id
 * and whose `aliases` are the model's other names, as Mistral's API lists them.
 */
function modelCard(m: ModelEntry, created: number) {
  const caps = servedCapabilities(m);
  const retires = m.deprecation?.retires_on;
  return {
    id: m.id,
    object: 'model',
    created,
    // Mistral's own names are Mistral's models; a registry file's are the operator's.
    owned_by: m.mistral_capabilities ? 'mistralai' : 'batchd',
    capabilities: {
      completion_chat: caps.completion_chat,
      function_calling: caps.function_calling,
      reasoning: caps.reasoning,
      completion_fim: caps.completion_fim,
      fine_tuning: false,
      vision: caps.vision,
      ocr: false,
      classification: caps.classification,
      moderation: caps.moderation,
      audio: false,
      audio_transcription: false,
      audio_transcription_realtime: false,
      audio_speech: false,
      unified_resources: false,
    },
    name: m.canonical_id ?? m.id,
    description: m.description ?? `${m.engine} model`,
    max_context_length: m.context_length,
    aliases: m.aliases ?? [],
    // Mistral's date after which the model no longer answers there.
    deprecation: retires ? `${retires}T00:00:00Z` : null,
    deprecation_replacement_model: m.deprecation?.replacement ?? null,
    default_model_temperature: m.engine === 'llama' || m.engine === 'echo' ? DEFAULT_TEMPERATURE : null,
    type: 'base',
    batchd: {
      engine: m.engine,
      endpoints: m.endpoints,
      max_in_flight: m.max_in_flight,
      model_type: m.type ?? null,
      ...(m.mistral_capabilities ? { mistral_capabilities: m.mistral_capabilities, mistral_max_context_length: m.mistral_context_length ?? null } : {}),
      ...(m.embedding_dimension !== undefined ? { embedding_dimension: m.embedding_dimension } : {}),
      input_price_per_mtok: m.input_price_per_mtok,
      output_price_per_mtok: m.output_price_per_mtok,
    },
  };
}

export function registerModelRoutes(fastify: FastifyInstance, ctx: AppContext) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const created = Math.floor(Date.now() / 1000);
  // Shared with OpenAI's SDK (models.list/retrieve): its clients get their own error shape.
  const onSend = openAiClientErrorPayload;
  app.get('/v1/models', { onSend }, async () => ({ object: 'list', data: ctx.registry.models.map((m) => modelCard(m, created)) }));
  app.get('/v1/models/:model_id', { onSend, schema: { params: idParams('model_id') } }, async (req) => {
    const id = req.params.model_id;
    const m = ctx.registry.get(id);
    if (!m) throw apiError('model_not_found', `No model with id '${id}' exists in this workspace.`);
    return modelCard(m, created);
  });
}
