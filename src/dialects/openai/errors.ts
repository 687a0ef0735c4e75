import type { FastifyReply, FastifyRequest } from 'fastify';
import { isOpenAiClient } from './client.js';

/**
 * OpenAI's error body, `{error: {message, type, param, code}}`, rendered from the same
 * catalogue as Mistral's: the code, message and param are the catalogue's; the types
 * that OpenAI names differently are renamed.
 */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const TYPE_NAMES: Record<string, string> = {
  rate_limited: 'rate_limit_error',
  internal_error: 'server_error',
  storage_error: 'server_error',
  upstream_error: 'server_error',
  payload_too_large: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  conflict_error: 'invalid_request_error',
};

export const openAiErrorType = (type: unknown): string => (typeof type === 'string' ? (TYPE_NAMES[type] ?? type) : 'invalid_request_error');

/** A Mistral-shaped error body (`{object: "error", message, type, param, code}`) in OpenAI's shape. */
export function toOpenAiError(body: { message?: unknown; type?: unknown; param?: unknown; code?: unknown }): OpenAiErrorBody {
  return {
    error: {
      message: typeof body.message === 'string' ? body.message : 'The request failed.',
      type: openAiErrorType(body.type),
      param: typeof body.param === 'string' ? body.param : null,
      code: typeof body.code === 'string' ? body.code : null,
    },
  };
}

/**
 * An onSend hook for OpenAI's routes: the one error handler (api/app.ts) renders every
 * failure in Mistral's shape, and this re-renders it in OpenAI's, so both dialects answer
 * from one catalogue and one handler.
 */
export async function openAiErrorPayload(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return payload;
  }
  if (!body || typeof body !== 'object' || (body as { object?: unknown }).object !== 'error') return payload;
  return JSON.stringify(toOpenAiError(body as Record<string, unknown>));
}

/**
 * The same re-rendering on the paths both APIs share (/v1/files…, /v1/chat/completions,
 * /v1/embeddings…), for OpenAI's clients only: no one body satisfies both SDKs (OpenAI's
 * reads `error.message/type/param/code` under an `error` key, Mistral's wire shape is flat
 * and has no such key), so the client decides (client.ts).
 */
export async function openAiClientErrorPayload(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  return isOpenAiClient(req) ? openAiErrorPayload(req, reply, payload) : payload;
}
