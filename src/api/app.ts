import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import multipart from '@fastify/multipart';
import { ZodError } from 'zod';
import { apiError, ApiError } from '../errors.js';
import { StoreError, toStoreError, type StoreFailure } from '../store/store-error.js';
import type { AppContext } from './context.js';
import { authHook } from './auth.js';
import { registerFileRoutes, registerSignedDownload } from './files.js';
import { registerBatchJobRoutes } from './batch-jobs.js';
import { registerWebhookRoutes } from '../webhooks/routes.js';
import { registerJobEventRoutes } from './job-events.js';
import { registerDashboard } from '../web/static.js';
import { registerDashboardRoutes } from '../web/model-stats.js';
import { registerModelRoutes } from './models.js';
import { registerInferenceRoutes } from './inference.js';
import { registerAnthropicRoutes } from '../dialects/anthropic/routes.js';
import { registerHttpMetrics, registerMetrics } from './metrics.js';
import { registerOpenApi } from './openapi.js';
import { bodyLimitOf, bodyTooLarge } from './body-limits.js';
import { scanJson } from './json-guard.js';
import { cutError, registerTransportHooks, transportOptions } from './transport.js';
import { CLIENT_CLOSED_REQUEST, clientClosed, requestSerializers } from './request-log.js';
import { fromZod, serializerCompiler, validatorCompiler } from './zod-provider.js';
import { registerOpenAiRoutes } from '../dialects/openai/routes.js';
import { llamaHealth } from '../engines/llama/backend.js';

const UPLOAD_ROUTE = '/v1/files';
const CREATE_ROUTE = '/v1/batch/jobs';

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const { limits } = ctx.config;
  const app = Fastify({
    // The process's one logger, with the request serializer that keeps signatures out of access logs.
    loggerInstance: ctx.log.child({}, { serializers: requestSerializers }) as FastifyBaseLogger,
    bodyLimit: limits.maxJsonBodyBytes,
    // Mistral's ids are UUIDs; the SDK percent-encodes them, nothing else needs long params.
    routerOptions: { maxParamLength: 200 },
    ...transportOptions(limits),
    // Bad URLs and parameters Fastify rejects before routing get the API's error body too.
    frameworkErrors: (err, _req, reply) => {
      const apiErr = toApiError(err);
      void (reply as FastifyReply).status(apiErr.status).type('application/json').send(apiErr.toBody());
    },
  });
  // Route schemas are zod schemas (zod-provider.ts); a response schema only documents a reply (openapi.ts), replies serialize as before.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Before any route: /openapi.json lists every route added after it; every request is timed by route pattern.
  registerOpenApi(app, ctx);
  registerHttpMetrics(app, ctx);
  registerTransportHooks(app, limits, (req) => req.method === 'POST' && req.routeOptions.url === UPLOAD_ROUTE);
  // Each route's JSON body cap (online inference, job create, the rest), set where routes are registered.
  app.addHook('onRoute', (r) => {
    if (r.bodyLimit === undefined) r.bodyLimit = bodyLimitOf([r.method].flat()[0]!, r.url, limits).bytes;
  });

  // Cancel arrives with no body and no content-type; a JSON content-type with an empty body is tolerated too.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    // Before JSON.parse: a body nested deeper than the limit, or an inline job past its item cap, is refused unparsed.
    const create = req.method === 'POST' && req.routeOptions.url === CREATE_ROUTE;
    const problem = scanJson(text, { maxDepth: limits.maxJsonDepth, ...(create ? { countKey: 'requests', maxItems: ctx.config.maxInlineRequests } : {}) });
    if (problem?.kind === 'too_deep') {
      return done(apiError('json_too_deep', `Request body nests objects and arrays deeper than ${problem.limit} levels (BATCHD_MAX_JSON_DEPTH).`), undefined);
    }
    if (problem?.kind === 'too_many_items') {
      return done(
        apiError(
          'too_many_inline_requests',
          `requests has at least ${problem.limit + 1} items; inline batches take at most ${problem.limit}. Upload a file with purpose "batch" instead.`,
          { param: 'requests' },
        ),
        undefined,
      );
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(apiError('invalid_json', `Request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  // Request bodies are JSON (or multipart on the upload route): a text/plain body is as unsupported as any other type.
  app.removeContentTypeParser('text/plain');

  await app.register(multipart, {
    limits: { fileSize: ctx.config.maxFileBytes, files: 1, fields: 10, fieldSize: 64 * 1024, parts: 16 },
    throwFileSizeLimit: true,
  });

  // The multipart parser is global, but only the upload route reads a form; elsewhere a form is the wrong media type.
  app.addHook('preValidation', async (req) => {
    if (req.isMultipart() && req.routeOptions.url !== '/v1/files') {
      throw apiError(
        'unsupported_media_type',
        `${req.method} ${req.routeOptions.url} takes a JSON body (content-type: application/json), not multipart/form-data.`,
      );
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const fastifyErr = err as FastifyError;
    const apiErr =
      cutError(req) ??
      (fastifyErr.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? bodyTooLarge(bodyLimitOf(req.method, req.routeOptions.url, limits)) : toApiError(fastifyErr));
    if (clientClosed(req)) {
      // Nobody is left to answer: the client's choice, not a server failure.
      req.log.info({ statusCode: CLIENT_CLOSED_REQUEST, code: apiErr.code }, 'client closed the request');
      return reply.status(CLIENT_CLOSED_REQUEST).type('application/json').send(apiErr.toBody());
    }
    if (apiErr.status >= 500) req.log.error({ err }, 'request failed');
    return reply.status(apiErr.status).type('application/json').send(apiErr.toBody());
  });
  // Remember every route so a known path with the wrong method answers 405, not 404.
  const routes: { method: string; pattern: RegExp }[] = [];
  app.addHook('onRoute', (r) => {
    const pattern = new RegExp(`^${r.url.replace(/:[^/]+/g, '[^/]+')}$`);
    for (const m of [r.method].flat()) routes.push({ method: m, pattern });
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    const err = allowed.length
      ? apiError('method_not_allowed', `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}.`)
      : apiError('route_not_found', `No route ${req.method} ${path}`);
    if (allowed.length) reply.header('allow', allowed.join(', '));
    reply.status(err.status).type('application/json').send(err.toBody());
  });

  // The embedded engine's backend (cpu, cuda, vulkan, metal) and loaded models, as far as this process has loaded them.
  app.get('/health', async () => ({ status: 'ok', engines: { llama: llamaHealth() } }));
  registerMetrics(app, ctx);
  registerSignedDownload(app, ctx);
  registerDashboard(app);

  await app.register(async (v1) => {
    v1.addHook('onRequest', authHook(ctx));
    registerFileRoutes(v1, ctx);
    registerBatchJobRoutes(v1, ctx);
    registerWebhookRoutes(v1, ctx);
    registerJobEventRoutes(v1, ctx);
    registerDashboardRoutes(v1, ctx);
    registerModelRoutes(v1, ctx);
    registerInferenceRoutes(v1, ctx);
    registerAnthropicRoutes(v1, ctx);
    registerOpenAiRoutes(v1, ctx);
  });
  return app;
}

/** Maps anything thrown in a handler to the one client-facing error type; nothing internal leaks. */
export function toApiError(err: FastifyError | Error): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ZodError) return fromZod(err);
  const e = err as FastifyError & { code?: string };
  if (e.code === 'FST_REQ_FILE_TOO_LARGE') {
    return apiError('file_too_large', `File exceeds the ${e.message.match(/\d+/)?.[0] ?? ''} byte limit (512 MB per file).`, { param: 'file' });
  }
  // busboy reports malformed multipart bodies with plain errors (no code): the client's fault.
  if (!e.statusCode && /multipart|boundary|unexpected end of form|part terminated/i.test(e.message ?? '')) {
    return apiError('invalid_multipart', `Malformed multipart/form-data body: ${e.message}`);
  }
  // busboy stops at the second file part (limits.files = 1): the same mistake as a file part under another name.
  if (e.code === 'FST_FILES_LIMIT') {
    return apiError('unexpected_file_part', 'The form has more than one file part: send exactly one file, in the part named "file".', { param: 'file' });
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return apiError('body_too_large', 'Request body is too large.');
  if (e.code === 'FST_ERR_BAD_URL') return apiError('invalid_url', 'The request path is not a valid URL (malformed percent-encoding).');
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    return apiError(
      'unsupported_media_type',
      'Unsupported content type: send a JSON body with content-type application/json (uploads to POST /v1/files take multipart/form-data).',
    );
  }
  // The driver seam raises StoreError; a blob store's file writes (ENOSPC, EDQUOT) reach here as plain errors, classified the same way.
  // Upstream model servers never get here (their failures are EngineErrors), so socket errors here are the store's.
  const store = toStoreError(err);
  if (store instanceof StoreError) return STORE_ERRORS[store.kind]();
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) return frameworkError(status, e);
  return apiError('internal_error', 'Internal server error');
}

const STORE_ERRORS: Record<StoreFailure, () => ApiError> = {
  full: () => apiError('insufficient_storage', 'The server is out of disk space; nothing was stored. Try again later.'),
  busy: () => apiError('store_busy', 'The store is busy; nothing was changed. Retry the request.'),
  unavailable: () => apiError('store_unavailable', 'The database is unreachable at the moment. Retry the request shortly.'),
};

/** A 4xx the framework raised: its own code (lowercased) passes through under the catalogue's bad_request entry. */
function frameworkError(status: number, e: { code?: string; message: string }): ApiError {
  const err = apiError('bad_request', e.message, { status });
  return e.code ? new ApiError({ status: err.status, type: err.type, code: e.code.toLowerCase(), message: err.message }) : err;
}
