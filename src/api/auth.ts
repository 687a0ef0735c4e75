import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../errors.js';
import { authenticate, type Principal } from '../store/keys.js';
import type { AppContext } from './context.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/**
 * The API key of a request: `Authorization: Bearer <key>` (what the SDKs send) or
 * `x-api-key: <key>` (what Mistral's docs' curl examples send, e.g. the batch job list
 * example until July 2026 and the audio transcription examples). When both are present
 * they must name the same key: a request whose two credentials disagree is refused
 * rather than run in one of two workspaces picked by a precedence rule.
 */
export function requestKey(headers: FastifyRequest['headers']): string {
  const authorization = headers.authorization;
  const raw = headers['x-api-key'];
  const apiKey = (Array.isArray(raw) ? raw.join(', ') : raw)?.trim();
  let bearer: string | undefined;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthorized('Unauthorized: the Authorization header must be "Bearer <key>"');
    bearer = match[1]!;
  }
  if (apiKey !== undefined) {
    if (apiKey === '' || /\s/.test(apiKey)) throw unauthorized('Unauthorized: the x-api-key header must be the API key alone');
    if (bearer !== undefined && bearer !== apiKey) {
      throw unauthorized('Unauthorized: the Authorization and x-api-key headers name different keys; send one key');
    }
    return apiKey;
  }
  if (bearer === undefined) throw unauthorized('Unauthorized: send your API key as "Authorization: Bearer <key>" or "x-api-key: <key>"');
  return bearer;
}

/** API key → workspace. Every /v1 route runs behind this; the workspace then scopes every query. */
export function authHook(ctx: AppContext) {
  return async (req: FastifyRequest) => {
    const principal = await authenticate(ctx.db.kysely, requestKey(req.headers));
    if (!principal) throw unauthorized('Unauthorized: unknown API key');
    req.principal = principal;
  };
}
