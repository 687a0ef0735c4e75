import type { FastifyReply, FastifyRequest } from 'fastify';
import { apiError } from '../../errors.js';
import { bodyTooLarge, type BodyLimit } from '../../api/body-limits.js';
import { anthropicError } from './errors.js';

/**
 * Anthropic's clients send `anthropic-version` on every call (the SDK sends its own date);
 * a request without it is refused as Anthropic refuses it. Any value is taken: batchd speaks
 * one version of the API, the one its README describes.
 */
export async function requireVersion(req: FastifyRequest) {
  const version = req.headers['anthropic-version'];
  if (typeof version !== 'string' || version.trim() === '') {
    throw apiError('anthropic_version_required', 'anthropic-version: header is required (e.g. "anthropic-version: 2023-06-01").');
  }
}

/**
 * Every error of the Anthropic routes in Anthropic's shape, `{type: "error", error: {type, message}, request_id}`.
 * The app's one error handler renders Mistral's body (and knows the transport's and body
 * limits' failures, auth's, the framework's); this hook, on these routes alone, re-renders
 * that body, so every failure is classified in one place and only its shape differs here.
 * Anthropic has no 422: a body it cannot take is a 400, as `invalid_request_error`.
 */
export function anthropicErrorBodies(bodyLimit: (req: FastifyRequest) => BodyLimit) {
  return async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
    let body: { object?: unknown; message?: unknown; code?: unknown };
    try {
      body = JSON.parse(payload) as typeof body;
    } catch {
      return payload;
    }
    if (body?.object !== 'error') return payload;
    if (reply.statusCode === 422) reply.status(400);
    // The app names the general JSON cap; these routes have their own (set where they are registered).
    const message = body.code === 'body_too_large' ? bodyTooLarge(bodyLimit(req)).message : String(body.message ?? 'error');
    return JSON.stringify(anthropicError(reply.statusCode, message, String(req.id)));
  };
}
