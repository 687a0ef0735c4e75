import type { RouteOptions } from 'fastify';

/** One method of one route, as the document needs it. */
export interface RouteRecord {
  method: string;
  /** Fastify's pattern, e.g. `/v1/batch/jobs/:job_id`. */
  url: string;
  schema: {
    params?: unknown;
    querystring?: unknown;
    body?: unknown;
    response?: Record<string, unknown>;
    summary?: string;
    description?: string;
  };
}

/** Methods the document leaves out: HEAD is Fastify's automatic twin of each GET. */
const UNDOCUMENTED_METHODS = new Set(['HEAD', 'OPTIONS']);

/**
 * The documented methods of a route being added (an onRoute hook sees every route, those
 * of plugins registered later included). Left out: wildcard routes, which OpenAPI cannot
 * express, and routes whose schema says `hide: true`.
 */
export function routeRecords(route: RouteOptions): RouteRecord[] {
  const schema = (route.schema ?? {}) as RouteRecord['schema'] & { hide?: boolean };
  if (schema.hide || route.url.includes('*')) return [];
  return [route.method]
    .flat()
    .filter((m) => !UNDOCUMENTED_METHODS.has(m))
    .map((method) => ({ method, url: route.url, schema }));
}

/** `/v1/files/:file_id/content` → `/v1/files/{file_id}/content` (a `:name(regex)` parameter keeps its name). */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}');
}

/** The path parameters of a Fastify pattern, in order. */
export function pathParams(url: string): string[] {
  return [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}
