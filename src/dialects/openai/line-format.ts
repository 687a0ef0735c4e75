import type { Endpoint } from '../../engines/endpoints.js';
import type { LineOutcome } from '../../results/render.js';
import type { LineFormat } from '../types.js';
import { hexId } from './ids.js';
import { openAiErrorType } from './errors.js';
import { toEngineBody } from './request.js';
import { toOpenAiBody } from './responses.js';
import { isResponsesBody, responsesRequest } from './responses-request.js';
import { responseObject } from './response-object.js';

type Body = Record<string, any>;

/**
 * A failed request's body as OpenAI writes it: `{error: {message, type, param, code}}`.
 * An engine's body is Mistral's error shape (or an upstream's own, kept when it already
 * has OpenAI's `error` object); a refused line has none, so one is made from its error.
 */
function errorResponseBody(body: unknown, o: LineOutcome): unknown {
  const b = body as Body | null;
  if (b && typeof b === 'object' && b.error && typeof b.error === 'object') return b;
  if (b && typeof b === 'object' && typeof b.message === 'string') {
    return { error: { message: b.message, type: openAiErrorType(b.type), param: b.param ?? null, code: b.code ?? o.error?.code ?? null } };
  }
  if (b !== null && b !== undefined) return b;
  return { error: { message: o.error?.message ?? 'The request failed.', type: 'invalid_request_error', param: null, code: o.error?.code ?? null } };
}

/** Which endpoint answered, from the body alone: for lines rendered without their job's endpoint (a FIM answer then reads as chat). */
function endpointOfBody(body: Body): Endpoint {
  if (Array.isArray(body.results)) return '/v1/moderations';
  if (body.object === 'list' && Array.isArray(body.data)) return '/v1/embeddings';
  return '/v1/chat/completions';
}

/**
 * One line of OpenAI's output or error file:
 * `{"id":"batch_req_<32 hex>","custom_id":…,"response":{"status_code","request_id","body"}|null,"error":null|{code,message}}`.
 * A request a model server answered has its response (and `error: null`, as OpenAI writes
 * failed HTTP requests); one that never reached a server (expired, cancelled, unreachable)
 * has `response: null` and the error's catalogue code.
 */
function renderLine(o: LineOutcome, endpoint: Endpoint | null, responses: boolean): string {
  let response = null;
  if (o.response) {
    const raw = o.response.body as Body;
    const answer = (b: Body) => (responses && b && typeof b === 'object' ? responseObject(b) : toOpenAiBody(b, endpoint ?? endpointOfBody(b ?? {})));
    const body = o.ok ? answer(raw) : errorResponseBody(raw, o);
    response = { status_code: o.response.status_code, request_id: hexId('req_'), body };
  }
  return JSON.stringify({
    id: hexId('batch_req_'),
    custom_id: o.customId,
    response,
    error: response || !o.error ? null : { code: o.error.code, message: o.error.message },
  });
}

/**
 * A Responses batch runs as a chat job (its `api_endpoint` says /v1/responses): its lines'
 * bodies are Responses requests, told from chat ones by their shape (`input`, no
 * `messages`). The worker renders each outcome with the format whose `request` translated
 * its line, so a job's format remembers that it translated Responses requests and renders
 * their answers as Response objects. Every line of a batch has its endpoint's form (the
 * batch is refused otherwise, validate-input.ts), so one flag per format serves the job.
 */
function formatFor(endpoint: Endpoint | null): LineFormat {
  let responses = false;
  return {
    request: (body, ep) => {
      if (ep !== '/v1/chat/completions' || !isResponsesBody(body)) return toEngineBody(body, ep);
      if (endpoint !== null) responses = true;
      return responsesRequest(body);
    },
    render: (_jobId, outcome) => renderLine(outcome, endpoint, responses),
    forEndpoint: (ep) => formatFor(ep),
  };
}

/** OpenAI's batch lines: request bodies translated for the engines, results in OpenAI's line and response shapes. */
export const openaiLineFormat: LineFormat = formatFor(null);
