import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, unprocessable } from '../errors.js';
import { ENDPOINTS, EngineError, type Endpoint, type EngineResult } from '../engines/engine.js';
import type { EnginePool } from '../engines/engine-pool.js';
import type { AppContext } from './context.js';

export interface OnlineGateway {
  engines: EnginePool;
}

/** The five endpoints served synchronously, so batchd is also a drop-in online server. */
export function registerInferenceRoutes(app: FastifyInstance, ctx: AppContext) {
  for (const endpoint of ENDPOINTS) {
    app.post(endpoint, async (req, reply) => {
      if (!ctx.online) throw new ApiError(503, 'internal_error', 'no_engines', 'This node serves no inference (started without engines).');
      const body = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw unprocessable('invalid_body', 'The request body must be a JSON object.', null, [{ loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }]);
      }
      const b = body as Record<string, unknown>;
      if (typeof b.model !== 'string' || b.model === '') {
        throw unprocessable('missing_model', 'model is required.', 'model', [{ loc: ['body', 'model'], msg: 'Field required', type: 'missing' }]);
      }
      const model = ctx.registry.get(b.model);
      if (!model) throw new ApiError(400, 'invalid_request_error', 'model_not_found', `Invalid model: ${b.model}`, 'model');
      if (!model.endpoints.includes(endpoint)) {
        throw new ApiError(400, 'invalid_request_error', 'endpoint_not_supported', `Model '${b.model}' does not serve ${endpoint}.`, 'model');
      }
      const abort = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const stream = b.stream === true && (endpoint === '/v1/chat/completions' || endpoint === '/v1/fim/completions');
      try {
        const engine = await ctx.online.engines.get(model);
        const result = await engine.execute({ endpoint: endpoint as Endpoint, body: { ...b, stream: false }, model, priority: 'online' }, abort.signal);
        return stream ? sendAsEventStream(reply, result) : result.body;
      } catch (err) {
        throw engineToApiError(err);
      }
    });
  }
}

export function engineToApiError(err: unknown): unknown {
  if (!(err instanceof EngineError)) return err;
  if (!err.retryable) {
    const body = (err.body && typeof err.body === 'object' ? err.body : {}) as Record<string, unknown>;
    return new ApiError(err.statusCode, 'invalid_request_error', err.code, typeof body.message === 'string' ? body.message : err.message, (body.param as string) ?? null, Array.isArray(body.detail) ? body.detail : undefined);
  }
  return new ApiError(err.statusCode === 429 ? 429 : 503, err.statusCode === 429 ? 'rate_limited' : 'internal_error', err.code, err.message);
}

/**
 * SSE framing of a finished completion, in Mistral's chunk shape. Engines return whole
 * responses, so the text arrives as one delta rather than token by token.
 */
function sendAsEventStream(reply: FastifyReply, result: EngineResult) {
  const body = result.body as { id: string; model: string; created: number; choices: { index: number; message?: { content?: unknown }; finish_reason: string }[] };
  const base = { id: body.id, object: 'chat.completion.chunk', created: body.created, model: body.model };
  const events = [
    { ...base, choices: body.choices.map((c) => ({ index: c.index, delta: { role: 'assistant', content: '' }, finish_reason: null })) },
    { ...base, choices: body.choices.map((c) => ({ index: c.index, delta: { content: c.message?.content ?? '' }, finish_reason: null })) },
    { ...base, choices: body.choices.map((c) => ({ index: c.index, delta: { content: '' }, finish_reason: c.finish_reason })), usage: result.usage },
  ];
  reply.header('content-type', 'text/event-stream').header('cache-control', 'no-cache');
  return reply.send(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n');
}
