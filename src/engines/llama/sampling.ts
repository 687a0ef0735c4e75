import { engineError, invalidRequest, type EngineError } from '../engine.js';

/** What one completion asks of the sampler, checked and defaulted from Mistral's fields. */
export interface Sampling {
  /** null: until end-of-sequence or the context is full. */
  maxTokens: number | null;
  /** FIM's min_tokens: end-of-sequence is suppressed until this many tokens. */
  minTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
  /** response_format json_object (schema null) or json_schema. */
  json: { schema: Record<string, unknown> | null } | null;
  presencePenalty: number;
  frequencyPenalty: number;
  /** Number of choices. */
  n: number;
}

/** Mistral's default for its small models; a request sets its own. */
const DEFAULT_TEMPERATURE = 0.3;
/** n is generated one choice after another on one sequence; more than this is a job for a batch. */
const MAX_CHOICES = 8;

type Range = { min: number; max: number; minExclusive?: boolean; integer?: boolean };

function numberField(body: Record<string, unknown>, key: string, r: Range, fallback: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || (r.minExclusive ? v <= r.min : v < r.min) || v > r.max || (r.integer && !Number.isInteger(v))) {
    const low = r.minExclusive ? `greater than ${r.min}` : `at least ${r.min}`;
    const high = r.max < Number.MAX_SAFE_INTEGER ? ` and at most ${r.max}` : '';
    throw invalidRequest(key, `must be ${r.integer ? 'an integer' : 'a number'} ${low}${high}`);
  }
  return v;
}

function stopField(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((s) => typeof s === 'string')) throw invalidRequest('stop', 'must be a string or an array of strings');
  return (list as string[]).filter((s) => s.length > 0);
}

function jsonField(v: unknown): Sampling['json'] {
  if (v === undefined || v === null) return null;
  const format = v as { type?: unknown; json_schema?: { schema?: unknown } | null };
  if (typeof format !== 'object' || !['text', 'json_object', 'json_schema'].includes(format.type as string)) {
    throw invalidRequest('response_format', "must be {type: 'text' | 'json_object' | 'json_schema'}");
  }
  if (format.type === 'text') return null;
  if (format.type === 'json_object') return { schema: null };
  const schema = format.json_schema?.schema;
  if (!schema || typeof schema !== 'object') throw invalidRequest('response_format', 'json_schema needs json_schema.schema, an object');
  return { schema: schema as Record<string, unknown> };
}

export function samplingOf(body: Record<string, unknown>): Sampling {
  const int = { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true };
  const maxTokens = body.max_tokens === undefined || body.max_tokens === null ? null : numberField(body, 'max_tokens', int, 0);
  return {
    maxTokens,
    minTokens: numberField(body, 'min_tokens', int, 0),
    temperature: numberField(body, 'temperature', { min: 0, max: 1.5 }, DEFAULT_TEMPERATURE),
    topP: numberField(body, 'top_p', { min: 0, max: 1, minExclusive: true }, 1),
    // llama.cpp takes a 32-bit seed; larger values wrap, still deterministic.
    seed: numberField(body, 'random_seed', int, Math.floor(Math.random() * 2 ** 32)) % 2 ** 32,
    stop: stopField(body.stop),
    json: jsonField(body.response_format),
    presencePenalty: numberField(body, 'presence_penalty', { min: -2, max: 2 }, 0),
    frequencyPenalty: numberField(body, 'frequency_penalty', { min: -2, max: 2 }, 0),
    n: numberField(body, 'n', { min: 1, max: MAX_CHOICES, integer: true }, 1),
  };
}

/** A request that is well-formed but cannot run on this model (Mistral answers these with a 400). */
export function refusedRequest(param: string, message: string): EngineError {
  return engineError('invalid_request', message, { status: 400, param });
}

/** A prompt or input longer than the model's context: a 400 whose code says so (OpenAI's code for it), online and in a batch line's error record. */
export function contextTooLong(param: string, message: string): EngineError {
  return engineError('context_length_exceeded', message, { param });
}
