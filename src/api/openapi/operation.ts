import { acceptsMissing, toJsonSchema, type JsonSchema } from './json-schema.js';
import { pathParams, type RouteRecord } from './routes.js';
import { FILE_PART, MULTIPART_FORMS } from './multipart.js';
import { errorSchemaOf } from './error-bodies.js';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: JsonSchema;
  description?: string;
}

const propertiesOf = (schema: JsonSchema | null) => (schema?.properties ?? {}) as Record<string, JsonSchema>;
const requiredOf = (schema: JsonSchema | null) => new Set((schema?.required ?? []) as string[]);

/** Path parameters from the URL pattern (typed by the params schema where it has them), then query parameters from the querystring schema. */
export function parametersOf(route: RouteRecord, path: string): Parameter[] {
  const params = propertiesOf(toJsonSchema(route.schema.params));
  const out: Parameter[] = pathParams(route.url).map((name) => ({ name, in: 'path', required: true, schema: params[name] ?? { type: 'string' } }));
  const query = toJsonSchema(route.schema.querystring);
  const required = requiredOf(query);
  for (const [name, schema] of Object.entries(propertiesOf(query))) {
    const { description, ...rest } = schema;
    out.push({ name, in: 'query', required: required.has(name), schema: rest, ...(typeof description === 'string' ? { description } : {}) });
  }
  // Anthropic's routes refuse a request without it (dialects/anthropic/scope.ts).
  if (path === '/v1/messages' || path.startsWith('/v1/messages/')) {
    out.push({ name: 'anthropic-version', in: 'header', required: true, schema: { type: 'string', examples: ['2023-06-01'] } });
  }
  return out;
}

/** The JSON body of the body schema, or the form of a multipart route; none for routes that take no body. */
export function requestBodyOf(route: RouteRecord): Record<string, unknown> | undefined {
  const form = MULTIPART_FORMS[`${route.method} ${route.url}`];
  if (form) {
    const schema = toJsonSchema(form)!;
    const file = propertiesOf(schema)[FILE_PART]!;
    propertiesOf(schema)[FILE_PART] = { type: 'string', contentMediaType: 'application/octet-stream', description: file.description };
    return { required: true, content: { 'multipart/form-data': { schema } } };
  }
  const schema = toJsonSchema(route.schema.body);
  if (!schema) return undefined;
  return { required: !acceptsMissing(route.schema.body), content: { 'application/json': { schema } } };
}

/**
 * The responses a route declares (`schema.response`, by status), each as JSON; a route that
 * declares none gets a bare 200. Every route gets `default`: the error body of its dialect.
 */
export function responsesOf(route: RouteRecord, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, declared] of Object.entries(route.schema.response ?? {})) {
    const schema = toJsonSchema(declared);
    const description = (schema?.description as string | undefined) ?? (status.startsWith('2') ? 'Success' : 'Response');
    out[status] = { description, ...(schema ? { content: { 'application/json': { schema } } } : {}) };
  }
  if (!Object.keys(out).some((s) => s.startsWith('2'))) out['200'] = { description: 'Success' };
  out.default = {
    description: 'An error: its status and `code` are listed in docs/errors.md.',
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${errorSchemaOf(path)}` } } },
  };
  return out;
}
