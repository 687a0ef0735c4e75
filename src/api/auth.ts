import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../errors.js';
import { authenticate, type Principal } from '../store/keys.js';
import type { AppContext } from './context.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** Bearer key → workspace. Every /v1 route runs behind this; the workspace then scopes every query. */
export function authHook(ctx: AppContext) {
  return async (req: FastifyRequest) => {
    const header = req.headers.authorization;
    if (!header) throw unauthorized('Unauthorized: send your API key as "Authorization: Bearer <key>"');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized('Unauthorized: the Authorization header must be "Bearer <key>"');
    const principal = await authenticate(ctx.db.kysely, match[1]!);
    if (!principal) throw unauthorized('Unauthorized: unknown API key');
    req.principal = principal;
  };
}
