import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { routeRecords, type RouteRecord } from './openapi/routes.js';
import { buildOpenApiDocument } from './openapi/document.js';

const PACKAGE_JSON = new URL('../../package.json', import.meta.url);

/**
 * GET /openapi.json: the OpenAPI 3.1 document of this server's routes, no key needed (it
 * holds no data). Routes are collected as they are added, so this must be registered before
 * any route; those of every plugin registered later appear on their own. Built once, at the
 * first request, when every route is known.
 */
export function registerOpenApi(app: FastifyInstance, ctx: AppContext) {
  const routes: RouteRecord[] = [];
  app.addHook('onRoute', (route) => void routes.push(...routeRecords(route)));
  let document: string | null = null;
  app.get('/openapi.json', async (_req, reply) => {
    document ??= JSON.stringify(buildOpenApiDocument(routes, { version: packageVersion(), serverUrl: ctx.config.publicUrl ?? '/' }));
    return reply.type('application/json; charset=utf-8').send(document);
  });
}

/** The package's version (src/api and dist/api are both two levels under the package). */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
