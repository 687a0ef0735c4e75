import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { apiError } from '../../errors.js';
import { onlineGate, type AppContext } from '../../api/context.js';
import { engineToApiError } from '../../api/inference.js';
import type { ZodTypeProvider } from '../../api/zod-provider.js';
import { EngineError, type EngineRequest } from '../../engines/engine.js';
import { LineRequestError } from '../types.js';
import { toMistralChat } from './request.js';
import { toAnthropicMessage } from './message.js';
import { streamMessage } from './stream.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checked, not rebuilt: the params are translated as the client wrote them. */
const messageBody = z.unknown().refine(isObject, 'The request body must be a JSON object: {model, max_tokens, messages, ...}.');

/**
 * Anthropic's online Messages API on the engines the batches use: the request is translated
 * to Mistral's chat body (request.ts), answered by the model's engine through the online gate
 * the Mistral routes pass too (one queue per model, api/context.ts: beyond it a 429 with Retry-After), and
 * the answer given back as a Message, or as Anthropic's event stream with `stream: true`.
 */
export function registerMessagesRoute(fastify: FastifyInstance, ctx: AppContext, bodyLimit: number) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const gate = onlineGate(ctx);
  app.post('/v1/messages', { bodyLimit, schema: { body: messageBody } }, async (req, reply) => {
    const params = req.body as Record<string, unknown>;
    if (!ctx.online) throw apiError('no_engines', 'This node serves no inference (started without engines).');
    const name = params.model;
    if (typeof name !== 'string' || name === '')
      throw apiError('missing_model', 'model: Field required (e.g. "mistral-small-latest"; see GET /v1/models).', { param: 'model', status: 422 });
    const model = ctx.registry.get(name);
    if (!model) throw apiError('model_not_found', `model: ${name} (served here: ${ctx.registry.models.map((m) => m.id).join(', ')})`, { param: 'model' });
    if (!model.endpoints.includes('/v1/chat/completions')) {
      throw apiError('endpoint_not_supported', `model: '${name}' is not a chat model (it serves ${model.endpoints.join(', ')}).`, {
        param: 'model',
        status: 400,
      });
    }
    let body: Record<string, unknown>;
    try {
      body = toMistralChat(params, 'body');
    } catch (err) {
      if (err instanceof LineRequestError) throw apiError('invalid_request', err.message, { status: 400 });
      throw err;
    }
    const last = (body.messages as Record<string, unknown>[]).at(-1)!;
    const prefill = last.prefix === true ? String(last.content ?? '') : '';
    const request: EngineRequest = { endpoint: '/v1/chat/completions', body: { ...body, model: name, stream: false }, model, priority: 'online' };
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    try {
      const engine = gate.wrap(await ctx.online.engines.get(model), model.id);
      if (params.stream === true) return await streamMessage(reply, engine, request, abort.signal, prefill);
      return toAnthropicMessage((await engine.execute(request, abort.signal)).body, 'standard', prefill);
    } catch (err) {
      setRetryAfter(reply, err);
      throw engineToApiError(err);
    }
  });
}

/** A 429 or 503 (the online queue, an upstream's own) tells the client when to come back, in whole seconds. */
function setRetryAfter(reply: FastifyReply, err: unknown) {
  if (err instanceof EngineError && err.retryable && err.retryAfterMs !== null && !reply.sent) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
  }
}
