import { toJsonSchema } from './json-schema.js';
import { openApiPath, type RouteRecord } from './routes.js';
import { parametersOf, requestBodyOf, responsesOf } from './operation.js';
import { anthropicErrorBody, mistralErrorBody, openAiErrorBody } from './error-bodies.js';

export interface DocumentInfo {
  version: string;
  /** Where the API is served; `/` (the document's own origin) when the server has no public URL. */
  serverUrl: string;
}

/** Tags by path prefix, longest first; a path under none is tagged by its first segment after /v1. */
const TAGS: { prefix: string; name: string; description: string }[] = [
  { prefix: '/v1/messages/batches', name: 'anthropic batches', description: "Anthropic's Message Batches API." },
  { prefix: '/v1/batch/jobs', name: 'batch jobs', description: "Mistral's Batch API: every job of the workspace, whatever API created it." },
  { prefix: '/v1/batches', name: 'openai batches', description: "OpenAI's Batch API: the jobs created through it." },
  { prefix: '/v1/files', name: 'files', description: 'Upload, list, read, download and delete files.' },
  { prefix: '/signed/files', name: 'files', description: 'Upload, list, read, download and delete files.' },
  { prefix: '/v1/models', name: 'models', description: 'The models this server serves.' },
  { prefix: '/v1/webhooks', name: 'webhooks', description: 'The workspace secret that signs webhook deliveries.' },
  { prefix: '/v1/dashboard', name: 'dashboard', description: 'What the web dashboard reads besides the public API.' },
  { prefix: '/v1/', name: 'inference', description: 'Online inference, on the same engines as batches.' },
  { prefix: '/assets/', name: 'dashboard', description: 'What the web dashboard reads besides the public API.' },
  { prefix: '/', name: 'operations', description: 'Health, metrics, this document, the dashboard page.' },
];

/** Routes anyone may call: the rest (everything under /v1) need an API key. */
const isPublic = (path: string) => !path.startsWith('/v1/');

function tagOf(path: string) {
  return TAGS.find((t) => path.startsWith(t.prefix))!;
}

/** `GET /v1/batch/jobs/{job_id}` → `getV1BatchJobsJobId`: stable, readable, unique per method and path. */
function operationIdOf(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + (words.length ? words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('') : 'Root');
}

/**
 * The OpenAPI 3.1 document of every route the app registered: paths and methods from the
 * routes themselves, parameters and bodies from their zod schemas, nothing written by hand
 * but the tags, the security schemes and the forms of multipart routes.
 */
export function buildOpenApiDocument(routes: readonly RouteRecord[], info: DocumentInfo): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const usedTags = new Map<string, string>();
  const ids = new Set<string>();
  for (const route of [...routes].sort((a, b) => a.url.localeCompare(b.url))) {
    const path = openApiPath(route.url);
    const tag = tagOf(path);
    usedTags.set(tag.name, tag.description);
    let operationId = operationIdOf(route.method, path);
    for (let n = 2; ids.has(operationId); n++) operationId = `${operationIdOf(route.method, path)}${n}`;
    ids.add(operationId);
    const parameters = parametersOf(route, path);
    const requestBody = requestBodyOf(route);
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      operationId,
      tags: [tag.name],
      ...(route.schema.summary ? { summary: route.schema.summary } : {}),
      ...(route.schema.description ? { description: route.schema.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses: responsesOf(route, path),
      ...(isPublic(path) ? { security: [] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    info: {
      title: 'batchd',
      version: info.version,
      summary: "Self-hosted batch inference server, wire-compatible with Mistral's Batch and Files API.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: info.serverUrl }],
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    tags: [...usedTags].map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key> (what the SDKs send).' },
        apiKeyHeader: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description: "x-api-key: <API key> (as some of Mistral's curl examples and Anthropic's clients send).",
        },
      },
      schemas: {
        Error: toJsonSchema(mistralErrorBody),
        OpenAiError: toJsonSchema(openAiErrorBody),
        AnthropicError: toJsonSchema(anthropicErrorBody),
      },
    },
  };
}
