import type { Endpoint } from '../../engines/endpoints.js';
import { LineRequestError } from '../types.js';

type Body = Record<string, unknown>;

/** A field of an OpenAI request batchd cannot honour: the line fails (400 invalid_request), online calls get a 400 naming `param`. */
export class UnsupportedField extends LineRequestError {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`${param}: ${message}`);
  }
}

/**
 * OpenAI-only fields with no effect on an answer (bookkeeping, caching, routing): dropped,
 * because a strict upstream (Mistral's own API) refuses fields it does not know.
 */
const IGNORED = ['store', 'user', 'service_tier', 'prompt_cache_key', 'safety_identifier', 'stream_options', 'verbosity'];

const given = (v: unknown) => v !== undefined && v !== null;

/** Fields that ask for something the engines cannot produce: refused by name rather than silently ignored. */
function refuseUnsupported(body: Body, fields: Record<string, (v: unknown) => boolean>) {
  for (const [field, asks] of Object.entries(fields)) {
    if (given(body[field]) && asks(body[field])) throw new UnsupportedField(field, REASONS[field] ?? 'is not supported by batchd');
  }
}

const REASONS: Record<string, string> = {
  logprobs: "log probabilities are not supported by batchd's engines; remove logprobs (or set it to false)",
  top_logprobs: "log probabilities are not supported by batchd's engines; remove top_logprobs",
  logit_bias: "logit_bias is not supported by batchd's engines; remove it",
  audio: 'audio output is not supported by batchd',
  modalities: "only text output is supported (modalities: ['text'])",
  functions: 'the deprecated functions field is not supported; send tools instead',
  function_call: 'the deprecated function_call field is not supported; send tool_choice instead',
  web_search_options: 'web search is not supported by batchd',
  echo: 'echo is not supported on /v1/completions',
  best_of: 'best_of other than 1 is not supported',
  n: 'n other than 1 is not supported on /v1/completions',
};

/** Copies the body without `drop`, renaming `from` to `to` where the Mistral field is not set already. */
function reshape(body: Body, drop: readonly string[], renames: Record<string, string>): Body {
  const out: Body = {};
  for (const [k, v] of Object.entries(body)) {
    if (drop.includes(k)) continue;
    if (k in renames) {
      if (given(v) && !given(body[renames[k]!])) out[renames[k]!] = v;
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** OpenAI's chat body → Mistral's: the same messages and most fields, a few renamed, OpenAI-only ones dropped or refused. */
export function chatRequest(body: Body): Body {
  refuseUnsupported(body, {
    logprobs: (v) => v === true,
    top_logprobs: () => true,
    logit_bias: (v) => typeof v !== 'object' || Object.keys(v as object).length > 0,
    audio: () => true,
    modalities: (v) => !Array.isArray(v) || v.some((m) => m !== 'text'),
    functions: () => true,
    function_call: () => true,
    web_search_options: () => true,
  });
  const out = reshape(body, [...IGNORED, 'logprobs', 'top_logprobs', 'logit_bias', 'modalities'], {
    // OpenAI's newer name for the completion budget; max_tokens is its deprecated alias and Mistral's name.
    max_completion_tokens: 'max_tokens',
    seed: 'random_seed',
  });
  // OpenAI's `required` is Mistral's `any`; `auto`, `none` and the named-function object are the same in both.
  if (out.tool_choice === 'required') out.tool_choice = 'any';
  if (Array.isArray(out.messages)) out.messages = out.messages.map(chatMessage);
  return out;
}

/** `developer` is OpenAI's newer name for the system role; Mistral knows only `system`. */
function chatMessage(m: unknown): unknown {
  if (!m || typeof m !== 'object') return m;
  const msg = m as Body;
  return msg.role === 'developer' ? { ...msg, role: 'system' } : msg;
}

export function embeddingsRequest(body: Body): Body {
  return reshape(body, IGNORED, { dimensions: 'output_dimension' });
}

/**
 * OpenAI's legacy completions body → Mistral's FIM: `prompt` and `suffix` are the same
 * fields. OpenAI's default max_tokens for completions is 16, so it is made explicit.
 */
export function completionsRequest(body: Body): Body {
  refuseUnsupported(body, {
    logprobs: (v) => v !== 0 && v !== false,
    logit_bias: (v) => typeof v !== 'object' || Object.keys(v as object).length > 0,
    echo: (v) => v === true,
    best_of: (v) => v !== 1,
    n: (v) => v !== 1,
  });
  const out = reshape(body, [...IGNORED, 'logprobs', 'logit_bias', 'echo', 'best_of', 'n'], { seed: 'random_seed' });
  if (Array.isArray(out.prompt)) {
    if (out.prompt.length !== 1 || typeof out.prompt[0] !== 'string') {
      throw new UnsupportedField('prompt', 'give one prompt as a string (a list of prompts or of token ids is not supported)');
    }
    out.prompt = out.prompt[0];
  }
  if (!given(out.max_tokens)) out.max_tokens = 16;
  return out;
}

/** OpenAI's moderation input: a string, strings, or multimodal parts of which batchd reads the text ones. */
export function moderationsRequest(body: Body): Body {
  const out = reshape(body, IGNORED, {});
  if (Array.isArray(out.input) && out.input.some((p) => typeof p === 'object' && p !== null)) {
    out.input = out.input.map((p: Body, i: number) => {
      if (p?.type === 'text' && typeof p.text === 'string') return p.text;
      throw new UnsupportedField(`input.${i}`, 'only text parts ({type: "text", text}) can be moderated; images are not supported');
    });
  }
  return out;
}

/**
 * The engine endpoint that serves an OpenAI endpoint (OpenAI's /v1/completions with `suffix`
 * is Mistral's FIM; a Responses request is a chat request, see responses-request.ts).
 */
export const ENGINE_ENDPOINTS = {
  '/v1/chat/completions': '/v1/chat/completions',
  '/v1/embeddings': '/v1/embeddings',
  '/v1/completions': '/v1/fim/completions',
  '/v1/moderations': '/v1/moderations',
  '/v1/responses': '/v1/chat/completions',
} as const satisfies Record<string, Endpoint>;

export type OpenAiEndpoint = keyof typeof ENGINE_ENDPOINTS;
export const OPENAI_ENDPOINTS = Object.keys(ENGINE_ENDPOINTS) as OpenAiEndpoint[];

/** The OpenAI endpoint a job's engine endpoint shows as (the inverse of ENGINE_ENDPOINTS; a Responses batch says so itself, see batch-object.ts). */
export function openAiEndpointOf(endpoint: string): string {
  return OPENAI_ENDPOINTS.find((e) => ENGINE_ENDPOINTS[e] === endpoint) ?? endpoint;
}

/** An OpenAI request body as the engines take it, for the engine endpoint that serves it. */
export function toEngineBody(body: Body, endpoint: Endpoint): Body {
  switch (endpoint) {
    case '/v1/chat/completions':
      return chatRequest(body);
    case '/v1/embeddings':
      return embeddingsRequest(body);
    case '/v1/fim/completions':
      return completionsRequest(body);
    case '/v1/moderations':
      return moderationsRequest(body);
    default:
      return body;
  }
}
