import type { ModelEntry } from '../models/registry.js';
import type { Engine } from './engine.js';
import { clientFor } from './http/upstream-client.js';
import { usageOf } from './openai/translate.js';
import { DEFAULT_UPSTREAM_TIMEOUT_MS, type UpstreamEngineOptions } from './openai/openai-engine.js';

/**
 * A Mistral-compatible API (Mistral itself, or another batchd): the request goes
 * unchanged but for the model name, and the response comes back with the client's model name.
 */
export function createMistralEngine(model: ModelEntry, opts: UpstreamEngineOptions = {}): Engine {
  const client = clientFor(model, opts.requestTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS);
  const upstreamModel = model.upstream_model ?? model.id;
  return {
    maxInFlight: model.max_in_flight,
    async execute(req, signal) {
      const clientModel = typeof req.body.model === 'string' ? req.body.model : model.id;
      const res = await client.postJson(req.endpoint.replace(/^\/v1/, ''), { ...req.body, model: upstreamModel }, signal);
      return { status_code: 200, body: { ...res.json, model: clientModel }, usage: usageOf(res.json.usage) };
    },
    close: () => client.close(),
  };
}
