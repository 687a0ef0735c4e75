import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import type { ModelEntry } from '../models/registry.js';
import type { AppContext } from './context.js';

/** Mistral's model card; capabilities are derived from the endpoints the registry says the model serves. */
function modelCard(m: ModelEntry, created: number) {
  return {
    id: m.id,
    object: 'model',
    created,
    owned_by: 'batchd',
    name: m.id,
    description: m.description ?? `${m.engine} model`,
    max_context_length: m.context_length,
    aliases: [],
    deprecation: null,
    default_model_temperature: 0.3,
    type: 'base',
    capabilities: {
      completion_chat: m.endpoints.includes('/v1/chat/completions'),
      completion_fim: m.endpoints.includes('/v1/fim/completions'),
      function_calling: false,
      fine_tuning: false,
      vision: false,
      classification: m.endpoints.includes('/v1/moderations'),
    },
    batchd: { engine: m.engine, endpoints: m.endpoints, max_in_flight: m.max_in_flight },
  };
}

export function registerModelRoutes(app: FastifyInstance, ctx: AppContext) {
  const created = Math.floor(Date.now() / 1000);
  app.get('/v1/models', async () => ({ object: 'list', data: ctx.registry.models.map((m) => modelCard(m, created)) }));
  app.get('/v1/models/:model_id', async (req) => {
    const id = (req.params as { model_id: string }).model_id;
    const m = ctx.registry.get(id);
    if (!m) throw notFound('model', id);
    return modelCard(m, created);
  });
}
