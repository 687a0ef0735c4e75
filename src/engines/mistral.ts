import type { ModelEntry } from '../models/registry.js';
import { asOnePiece, type Engine, type EngineRequest, type EngineResult } from './engine.js';
import { streamable, streamCompletion } from './http/completion-stream.js';
import { clientFor, type UpstreamEngineOptions } from './http/upstream-client.js';
import { usageOf } from './http/usage.js';

/**
 * A Mistral-compatible API (Mistral itself, or another batchd): the request goes
 * unchanged but for the model name, and the response comes back unchanged but for the
 * client's model name (and a usage object, should the upstream leave it out). Online
 * chat and FIM stream piece by piece from the upstream's own event stream.
 */
export function createMistralEngine(model: ModelEntry, opts: UpstreamEngineOptions = {}): Engine {
  const client = clientFor(model, opts);
  const upstreamModel = model.upstream_model ?? model.id;
  const clientModelOf = (req: EngineRequest) => (typeof req.body.model === 'string' ? req.body.model : model.id);
  const answer = (json: Record<string, unknown>, clientModel: string): EngineResult => {
    const usage = usageOf(json.usage);
    return { status_code: 200, body: { ...json, model: clientModel, usage: json.usage ?? usage }, usage };
  };
  const execute = async (req: EngineRequest, signal: AbortSignal) =>
    answer(await client.postJson(req.endpoint.slice('/v1'.length), { ...req.body, model: upstreamModel }, signal, req.priority), clientModelOf(req));
  return {
    maxInFlight: model.max_in_flight,
    queueAhead: client.queueAhead,
    execute,
    async stream(req, signal, onDelta) {
      if (!streamable(req)) return asOnePiece(execute(req, signal), onDelta);
      return answer(
        await streamCompletion(client, req.endpoint.slice('/v1'.length), { ...req.body, model: upstreamModel }, signal, onDelta),
        clientModelOf(req),
      );
    },
    close: () => client.close(),
  };
}
