import type { FastifyReply, FastifyRequest } from 'fastify';
import { apiError } from '../errors.js';
import { FailureThrottle } from '../net/failure-throttle.js';
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
    if (!match) throw apiError('unauthorized', 'Unauthorized: the Authorization header must be "Bearer <key>"');
    bearer = match[1]!;
  }
  if (apiKey !== undefined) {
    if (apiKey === '' || /\s/.test(apiKey)) throw apiError('unauthorized', 'Unauthorized: the x-api-key header must be the API key alone');
    if (bearer !== undefined && bearer !== apiKey) {
      throw apiError('unauthorized', 'Unauthorized: the Authorization and x-api-key headers name different keys; send one key');
    }
    return apiKey;
  }
  if (bearer === undefined) throw apiError('unauthorized', 'Unauthorized: send your API key as "Authorization: Bearer <key>" or "x-api-key: <key>"');
  return bearer;
}

/**
 * API key → workspace. Every /v1 route runs behind this; the workspace then scopes every query.
 *
 * Wrong keys are throttled per client address (config.limits.authFailuresPerMinute):
 * beyond the limit an address gets 429 with Retry-After and its new keys are not
 * checked, while keys that already worked from it keep working (see FailureThrottle).
 * The address is the socket's peer (`req.ip`; Fastify's trustProxy is off), so behind a
 * reverse proxy every client counts as the proxy. Requests that present no key, or a
 * malformed header, are not guesses and are not counted.
 */
export function authHook(ctx: AppContext) {
  const throttle = new FailureThrottle({ perMinute: ctx.config.limits.authFailuresPerMinute, now: () => ctx.clock.now() });
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const key = requestKey(req.headers);
    const attempt = throttle.begin(req.ip, key);
    if (typeof attempt === 'number') {
      const seconds = Math.max(1, Math.ceil(attempt / 1000));
      reply.header('retry-after', String(seconds));
      throw apiError('too_many_auth_failures', `Too many failed authentications from this address; retry after ${seconds} s.`);
    }
    let principal: Principal | null;
    try {
      principal = await authenticate(ctx.db.kysely, key);
    } catch (err) {
      attempt.abandoned();
      throw err;
    }
    if (!principal) {
      attempt.failed();
      throw apiError('unauthorized', 'Unauthorized: unknown API key');
    }
    attempt.succeeded();
    req.principal = principal;
  };
}
