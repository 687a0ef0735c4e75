import { z } from 'zod';
import { ERROR_CATALOGUE, type CatalogueEntry } from '../../error-catalogue.js';
import type { AnthropicErrorType } from '../../dialects/anthropic/errors.js';
import { openAiErrorType } from '../../dialects/openai/errors.js';

/** Every `type` an HTTP error of the catalogue can carry, with its `alsoAs` variants. */
function catalogueTypes(): [string, ...string[]] {
  const types = new Set<string>();
  for (const entry of Object.values(ERROR_CATALOGUE) as CatalogueEntry[]) {
    if (entry.line) continue;
    types.add(entry.type);
    for (const v of entry.alsoAs ?? []) types.add(v.type);
    if (entry.engine?.bodyType) types.add(entry.engine.bodyType);
  }
  return [...types].sort() as [string, ...string[]];
}

const CODE_HELP = 'A stable code from the error catalogue (docs/errors.md); null where Mistral sends none.';

const validationDetail = z.object({
  loc: z.array(z.union([z.string(), z.number()])),
  msg: z.string(),
  type: z.string(),
});

/** Mistral's error body (errors.ts, MistralErrorBody): what every route answers unless its dialect has its own shape. */
export const mistralErrorBody = z
  .object({
    object: z.literal('error'),
    message: z.string().describe('What went wrong and what to fix, for people.'),
    type: z.enum(catalogueTypes()),
    param: z.string().nullable().describe('The field, query parameter or form part at fault, when one is.'),
    code: z.string().nullable().describe(CODE_HELP),
    detail: z.array(validationDetail).optional().describe("FastAPI's list of validation failures (422s), as Mistral sends it."),
  })
  .describe("batchd's error body, Mistral's shape.");

/** OpenAI's `{error: {message, type, param, code}}` (dialects/openai/errors.ts), on OpenAI's batch routes. */
export const openAiErrorBody = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.enum([...new Set(catalogueTypes().map(openAiErrorType))].sort() as [string, ...string[]]),
      param: z.string().nullable(),
      code: z.string().nullable().describe(CODE_HELP),
    }),
  })
  .describe("OpenAI's error body.");

const ANTHROPIC_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
] as const satisfies readonly AnthropicErrorType[];

/** Anthropic's `{type: "error", error: {type, message}, request_id}` (dialects/anthropic/errors.ts), on Anthropic's routes. */
export const anthropicErrorBody = z
  .object({
    type: z.literal('error'),
    error: z.object({ type: z.enum(ANTHROPIC_TYPES), message: z.string() }),
    request_id: z.string().nullable(),
  })
  .describe("Anthropic's error body.");

/** Which error shape a path answers with, by prefix (longest first); Mistral's for the rest. */
export const ERROR_SHAPES: { prefix: string; schema: 'OpenAiError' | 'AnthropicError' }[] = [
  { prefix: '/v1/messages', schema: 'AnthropicError' },
  { prefix: '/v1/batches', schema: 'OpenAiError' },
];

export function errorSchemaOf(path: string): 'Error' | 'OpenAiError' | 'AnthropicError' {
  return ERROR_SHAPES.find((s) => path === s.prefix || path.startsWith(`${s.prefix}/`))?.schema ?? 'Error';
}
