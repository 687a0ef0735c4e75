import { apiError } from '../../errors.js';
import type { Endpoint } from '../../engines/endpoints.js';
import { chatRequest, completionsRequest, embeddingsRequest, moderationsRequest, UnsupportedField } from './request.js';

type Body = Record<string, unknown>;

/** A field the engines cannot honour, as the online answer: a 400 naming it. */
function refused<T>(translate: () => T): T {
  try {
    return translate();
  } catch (err) {
    if (err instanceof UnsupportedField) throw apiError('invalid_request', err.message, { status: 400, param: err.param });
    throw err;
  }
}

/**
 * An online call on a path both APIs share (/v1/chat/completions, /v1/embeddings,
 * /v1/moderations): OpenAI's fields are translated as in OpenAI batches, and a Mistral
 * body passes unchanged (every rename is of a field Mistral does not have).
 */
export function sharedOnlineBody<B extends Body>(body: B, endpoint: Endpoint): B {
  switch (endpoint) {
    case '/v1/chat/completions':
      return refused(() => chatRequest(body) as B);
    case '/v1/embeddings':
      return refused(() => embeddingsRequest(body) as B);
    case '/v1/moderations':
      return refused(() => moderationsRequest(body) as B);
    default:
      return body;
  }
}

/** OpenAI's /v1/completions body as Mistral's FIM request (`suffix` is FIM's suffix). */
export function completionsOnlineBody<B extends Body>(body: B): B {
  if (body.stream === true)
    throw apiError('invalid_request', 'stream is not supported on /v1/completions; send stream: false.', { status: 400, param: 'stream' });
  return refused(() => completionsRequest(body) as B);
}
