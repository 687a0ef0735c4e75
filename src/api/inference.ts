import type { FastifyInstance, FastifyReply } from 'fastify';
import { apiError } from '../errors.js';
import { completionId, ENDPOINTS, EngineError, type Engine, type EngineRequest, type StreamPiece } from '../engines/engine.js';
import { onlineGate, type AppContext, type OnlineGateway } from './context.js';
import { z } from 'zod';
import { apiIssue, type ZodTypeProvider } from './zod-provider.js';
import { OPENAI_ONLINE_ROUTES, sharedOnlineBody } from '../dialects/openai/online.js';
import { openAiClientErrorPayload, openAiErrorPayload } from '../dialects/openai/errors.js';
import type { InferenceBody, OnlineRoute } from './online-route.js';
import { engineToApiError, SseStream } from './sse.js';

// Where it was first defined: the Anthropic dialect and the catalogue's tests import it from here.
export { engineToApiError };

const isObject = (b: unknown): b is Record<string, unknown> => typeof b === 'object' && b !== null && !Array.isArray(b);
const namesModel = (b: Record<string, unknown>): b is InferenceBody => typeof b.model === 'string' && b.model !== '';

/**
 * Checked, not rebuilt: the body goes to the engine as sent, and a zod object's output
 * would drop a `__proto__` key (see job-metadata.ts).
 */
const inferenceBody = z.unknown().transform((body, ctx): InferenceBody => {
  if (!isObject(body)) {
    return apiIssue(
      ctx,
      apiError('invalid_body', 'The request body must be a JSON object.', {
        detail: [{ loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }],
      }),
    );
  }
  if (!namesModel(body)) {
    return apiIssue(
      ctx,
      apiError('missing_model', 'model is required.', { param: 'model', detail: [{ loc: ['body', 'model'], msg: 'Field required', type: 'missing' }] }),
    );
  }
  return body;
});

/** The shared paths, one per engine endpoint: Mistral's bodies and answers, OpenAI's fields translated (dialects/openai/online.ts). */
const SHARED_ROUTES: OnlineRoute[] = ENDPOINTS.map((endpoint) => ({
  path: endpoint,
  endpoint,
  request: (body) => sharedOnlineBody(body, endpoint),
  answer: (body) => body,
  stream: endpoint === '/v1/chat/completions' || endpoint === '/v1/fim/completions' ? streamCompletion : undefined,
}));

/**
 * Every endpoint, served synchronously too, so batchd is also a drop-in online server:
 * the shared paths and OpenAI's own (/v1/completions, /v1/responses). Online calls pass
 * one gate per model (engines/online-gate.ts): beyond the engine's parallel requests and
 * `onlineQueueLimit` waiting ones, a 429 with Retry-After.
 */
export function registerInferenceRoutes(fastify: FastifyInstance, ctx: AppContext) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  // The one gate every dialect's online calls pass (api/context.ts): one queue per model, not one per dialect.
  const gate = onlineGate(ctx);
  // Before the body's schema: a node without engines refuses every online call alike.
  const servesInference = async () => void onlineOf(ctx);
  for (const route of [...SHARED_ROUTES, ...OPENAI_ONLINE_ROUTES]) {
    const { path, endpoint } = route;
    // OpenAI's own paths answer (and fail) in OpenAI's shapes; the shared paths in the client's (dialects/openai/client.ts).
    const onSend = route.openAi ? openAiErrorPayload : openAiClientErrorPayload;
    app.post(path, { preValidation: servesInference, schema: { body: inferenceBody }, onSend }, async (req, reply) => {
      const b = route.request(req.body);
      const model = ctx.registry.get(b.model);
      if (!model) throw apiError('model_not_found', `Invalid model: ${b.model}`, { param: 'model', status: 400 });
      if (!model.endpoints.includes(endpoint)) {
        throw apiError('endpoint_not_supported', `Model '${b.model}' does not serve ${path}.`, { param: 'model', status: 400 });
      }
      const abort = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const request = { endpoint, body: { ...b, stream: false }, model, priority: 'online' as const };
      try {
        const engine = gate.wrap(await onlineOf(ctx).engines.get(model), model.id);
        if (req.body.stream === true && route.stream) return await route.stream(reply, engine, request, abort.signal, req.body);
        const { body } = await engine.execute(request, abort.signal);
        return route.answer(body, req.body);
      } catch (err) {
        setRetryAfter(reply, err);
        throw engineToApiError(err);
      }
    });
  }
}

function onlineOf(ctx: AppContext): OnlineGateway {
  if (!ctx.online) throw apiError('no_engines', 'This node serves no inference (started without engines).');
  return ctx.online;
}

/** A 429 or 503 (the online queue, an upstream's own) tells the client when to come back, in whole seconds. */
function setRetryAfter(reply: FastifyReply, err: unknown) {
  if (err instanceof EngineError && err.retryable && err.retryAfterMs !== null && !reply.sent) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
  }
}

/**
 * Server-sent events in Mistral's chunk shape: a role chunk, one chunk per piece as the
 * engine generates it (reasoning as a thinking chunk, text as a string; engines without
 * streaming give it as one piece at the end), the tool calls whole in one chunk, a last
 * chunk with finish_reason and usage, then `data: [DONE]`. Headers go out with the first
 * piece, so a request the engine refuses still gets a normal error.
 */
async function streamCompletion(reply: FastifyReply, engine: Engine, request: EngineRequest, signal: AbortSignal) {
  const id = completionId();
  const created = Math.floor(Date.now() / 1000);
  const modelName = String(request.body.model);
  const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: modelName, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
  const sse = new SseStream(reply, () => sse.write(chunk({ role: 'assistant', content: '' }, null)));
  const send = (piece: StreamPiece) => {
    sse.open();
    if (typeof piece !== 'string') {
      if (piece.thinking) sse.write(chunk({ content: [{ type: 'thinking', thinking: [{ type: 'text', text: piece.thinking }] }] }, null));
    } else if (piece) sse.write(chunk({ content: piece }, null));
  };
  // A failure once the stream is open ends it with an error event in Mistral's error shape.
  const result = await sse.run(engine, request, signal, send, (failure) => `data: ${JSON.stringify(failure.toBody())}\n\n`);
  if (!result) return reply;
  const choice = (result.body.choices as { finish_reason?: string; message?: { tool_calls?: unknown[] | null } }[])[0];
  const calls = choice?.message?.tool_calls;
  if (Array.isArray(calls) && calls.length > 0) sse.write(chunk({ content: '', tool_calls: calls }, null));
  sse.end(`${chunk({ content: '' }, choice?.finish_reason ?? 'stop', { usage: result.usage })}data: [DONE]\n\n`);
  return reply;
}
