import { apiError } from '../../errors.js';
import type { InferenceBody, OnlineRoute } from '../../api/online-route.js';
import { responseObject } from './response-object.js';
import { responsesRequest } from './responses-request.js';
import { textCompletion } from './responses.js';
import { streamResponse, streamTextCompletion } from './online-stream.js';
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

/**
 * OpenAI's own online paths: /v1/completions (Mistral's FIM, `suffix` its suffix) and
 * /v1/responses (a chat request, responses-request.ts), each with its answer and its
 * stream in OpenAI's shapes.
 */
export const OPENAI_ONLINE_ROUTES: OnlineRoute[] = [
  {
    path: '/v1/completions',
    endpoint: '/v1/fim/completions',
    openAi: true,
    request: (body) => refused(() => completionsRequest(body) as InferenceBody),
    answer: (answer) => textCompletion(answer),
    stream: streamTextCompletion,
  },
  {
    path: '/v1/responses',
    endpoint: '/v1/chat/completions',
    openAi: true,
    request: (body) => refused(() => responsesRequest(body) as InferenceBody),
    answer: (answer, body) => responseObject(answer, body),
    stream: streamResponse,
  },
];
