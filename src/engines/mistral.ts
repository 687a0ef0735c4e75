import type { ModelEntry } from '../models/registry.js';
import type { Engine } from './engine.js';
import { clientFor, type UpstreamEngineOptions } from './http/upstream-client.js';
import { usageOf } from './http/usage.js';

/**
 * A Mistral-compatible API (Mistral itself, or another batchd): the request goes
 * unchanged but for the model name, and the response comes back unchanged but for the
 * client's model name (and a usage object, should the upstream leave it out).
 */
export function createMistralEngine(model: ModelEntry, opts: UpstreamEngineOptions = {}): Engine {
  const client = clientFor(model, opts);
  const upstreamModel = model.upstream_model ?? model.id;
  return {
    maxInFlight: model.max_in_flight,
    async execute(req, signal) {
      const clientModel = typeof req.body.model === 'string' ? req.body.model : model.id;
      const json = await client.postJson(req.endpoint.slice('/v1'.length), { ...req.body, model: upstreamModel }, signal);
      const usage = usageOf(json.usage);
      return { status_code: 200, body: { ...json, model: clientModel, usage: json.usage ?? usage }, usage };
    },
    close: () => client.close(),
  };
}
