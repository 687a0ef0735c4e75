import type { FastifyInstance, FastifyReply } from 'fastify';
import { apiError, ApiError } from '../errors.js';
import { asOnePiece, completionId, ENDPOINTS, EngineError, type Endpoint, type Engine, type EngineRequest, type StreamPiece } from '../engines/engine.js';
import { OnlineGate } from '../engines/online-gate.js';
import type { AppContext, OnlineGateway } from './context.js';
import { z } from 'zod';
import { apiIssue, type ZodTypeProvider } from './zod-provider.js';
import { completionsOnlineBody, sharedOnlineBody } from '../dialects/openai/online.js';
import { openAiErrorPayload } from '../dialects/openai/errors.js';
import { textCompletion } from '../dialects/openai/responses.js';

/** An online request: a JSON object naming its model; every other field is the engine's to judge. */
type InferenceBody = Record<string, unknown> & { model: string };

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

/** Every engine endpoint on its own path, and OpenAI's /v1/completions (with `suffix`) served as FIM. */
const ONLINE_ROUTES: { path: string; endpoint: Endpoint; openAiOnly?: boolean }[] = [
  ...ENDPOINTS.map((endpoint) => ({ path: endpoint, endpoint })),
  { path: '/v1/completions', endpoint: '/v1/fim/completions', openAiOnly: true },
];

/**
 * Every endpoint, served synchronously too, so batchd is also a drop-in online server.
 * Online calls pass one gate per model (engines/online-gate.ts): beyond the engine's
 * parallel requests and `onlineQueueLimit` waiting ones, a 429 with Retry-After.
 */
export function registerInferenceRoutes(fastify: FastifyInstance, ctx: AppContext) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const gate = new OnlineGate(ctx.config.limits.onlineQueueLimit);
  // Before the body's schema: a node without engines refuses every online call alike.
  const servesInference = async () => void onlineOf(ctx);
  for (const { path, endpoint, openAiOnly } of ONLINE_ROUTES) {
    // OpenAI's own path answers (and fails) in OpenAI's shapes; the shared paths keep Mistral's.
    const openAi = openAiOnly ? { onSend: openAiErrorPayload } : {};
    app.post(path, { preValidation: servesInference, schema: { body: inferenceBody }, ...openAi }, async (req, reply) => {
      const b = openAiOnly ? completionsOnlineBody(req.body) : sharedOnlineBody(req.body, endpoint);
      const model = ctx.registry.get(b.model);
      if (!model) throw apiError('model_not_found', `Invalid model: ${b.model}`, { param: 'model', status: 400 });
      if (!model.endpoints.includes(endpoint)) {
        throw apiError('endpoint_not_supported', `Model '${b.model}' does not serve ${path}.`, { param: 'model', status: 400 });
      }
      const abort = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const stream = b.stream === true && (endpoint === '/v1/chat/completions' || endpoint === '/v1/fim/completions');
      const request = { endpoint: endpoint as Endpoint, body: { ...b, stream: false }, model, priority: 'online' as const };
      try {
        const engine = gate.wrap(await onlineOf(ctx).engines.get(model), model.id);
        if (stream) return await streamCompletion(reply, engine, request, abort.signal);
        const { body } = await engine.execute(request, abort.signal);
        return openAiOnly ? textCompletion(body) : body;
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
 * An engine's failure as the online answer: a refusal keeps the engine's status and its
 * body's message, param and detail; a retryable failure is a 429 (rate limits) or a 503.
 * The catalogue gives the type (invalid_request_error, rate_limited, internal_error).
 */
export function engineToApiError(err: unknown): unknown {
  if (!(err instanceof EngineError)) return err;
  if (!err.retryable) {
    const body = (err.body && typeof err.body === 'object' ? err.body : {}) as Record<string, unknown>;
    const message = typeof body.message === 'string' ? body.message : err.message;
    return apiError(err.code, message, {
      status: err.statusCode,
      param: (body.param as string) ?? null,
      detail: Array.isArray(body.detail) ? body.detail : undefined,
    });
  }
  return apiError(err.code, err.message, { status: err.statusCode === 429 ? 429 : 503 });
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
  let open = false;
  const send = (piece: StreamPiece) => {
    if (!open) {
      open = true;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      reply.raw.write(chunk({ role: 'assistant', content: '' }, null));
    }
    if (typeof piece !== 'string') {
      if (piece.thinking) reply.raw.write(chunk({ content: [{ type: 'thinking', thinking: [{ type: 'text', text: piece.thinking }] }] }, null));
    } else if (piece) reply.raw.write(chunk({ content: piece }, null));
  };
  let result;
  try {
    result = engine.stream ? await engine.stream(request, signal, send) : await asOnePiece(engine.execute(request, signal), send);
  } catch (err) {
    if (!open) throw err;
    // The status line is gone already: end the stream with an error event instead.
    const e = engineToApiError(err);
    reply.raw.end(`data: ${JSON.stringify((e instanceof ApiError ? e : apiError('internal_error', 'generation failed')).toBody())}\n\n`);
    return reply;
  }
  send('');
  const choice = (result.body.choices as { finish_reason?: string; message?: { tool_calls?: unknown[] | null } }[])[0];
  const calls = choice?.message?.tool_calls;
  if (Array.isArray(calls) && calls.length > 0) reply.raw.write(chunk({ content: '', tool_calls: calls }, null));
  reply.raw.end(`${chunk({ content: '' }, choice?.finish_reason ?? 'stop', { usage: result.usage })}data: [DONE]\n\n`);
  return reply;
}
