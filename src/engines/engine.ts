import { randomUUID } from 'node:crypto';
import type { ModelEntry } from '../models/registry.js';
import type { Endpoint } from './endpoints.js';
import { ERROR_CATALOGUE, errorBody, type EngineErrorCode, type ValidationDetail } from '../errors.js';

export { ENDPOINTS, type Endpoint } from './endpoints.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface EngineRequest {
  endpoint: Endpoint;
  /** The request body as the client wrote it; `model` is the client-facing model id. */
  body: Record<string, unknown>;
  model: ModelEntry;
  /** Online calls go ahead of batch work on a shared engine. */
  priority: 'online' | 'batch';
}

/** A piece of a streamed completion: answer text, or reasoning (Mistral's thinking chunk). */
export type StreamPiece = string | { thinking: string };

/** A successful call: the endpoint's response body in Mistral's shape. */
export interface EngineResult {
  status_code: 200;
  body: Record<string, unknown>;
  usage: Usage;
}

/**
 * A failed call. `retryable` decides whether the runner tries again (429, 5xx,
 * connection reset, timeout) or records the line as failed with `status_code`/`body`.
 * `code` is the catalogue's (error-catalogue.ts); build one with `engineError`.
 */
export class EngineError extends Error {
  readonly code: EngineErrorCode;
  readonly retryable: boolean;
  readonly statusCode: number;
  /** What a batch line records as the response body: Mistral's error shape, an upstream's own body, or null (no answer). */
  readonly body: unknown;
  /** Milliseconds the upstream asked us to wait (Retry-After). */
  readonly retryAfterMs: number | null;

  constructor(init: { code: EngineErrorCode; message: string; retryable: boolean; statusCode: number; body: unknown; retryAfterMs?: number | null }) {
    super(init.message);
    this.name = 'EngineError';
    this.code = init.code;
    this.retryable = init.retryable;
    this.statusCode = init.statusCode;
    this.body = init.body;
    this.retryAfterMs = init.retryAfterMs ?? null;
  }
}

export interface EngineErrorOptions {
  /** The status the engine answered, when not the catalogue's (a 400 refusal, an upstream's own status). */
  status?: number;
  param?: string | null;
  detail?: ValidationDetail[];
  retryAfterMs?: number | null;
  /** The body's message, when it differs from the error's own (which batch lines record as `error.message`). */
  bodyMessage?: string;
  /** The body to record instead of the catalogue's rendering: an upstream's own, or null when there was no answer. */
  body?: unknown;
}

/** A failed call by its catalogue code: retryable as the catalogue says, with Mistral's error body rendered from it. */
export function engineError(code: EngineErrorCode, message: string, opts: EngineErrorOptions = {}): EngineError {
  const entry = ERROR_CATALOGUE[code];
  const body = opts.body !== undefined ? opts.body : errorBody(code, opts.bodyMessage ?? message, { param: opts.param, detail: opts.detail });
  return new EngineError({ code, message, retryable: entry.engine.retry, statusCode: opts.status ?? entry.status, body, retryAfterMs: opts.retryAfterMs });
}

/**
 * One interface every engine implements. Engines know nothing of jobs: they turn one
 * request into one response. Concurrency is theirs to declare; the runner fills it.
 */
export interface Engine {
  /** How many requests the engine wants in flight at once. */
  readonly maxInFlight: number;
  /**
   * Batch calls the runner may hand over beyond maxInFlight, to wait inside the engine:
   * an upstream engine's wait on its I/O thread, which sends one the moment a connection
   * frees instead of when the main thread gets round to it. Absent: none.
   */
  readonly queueAhead?: number;
  /**
   * What online admission (online-gate.ts) counts against: the requests the engine runs at
   * once and the resource they share (registry entries serving one model file share its
   * sequences). Absent: maxInFlight, per registry entry.
   */
  readonly online?: { pool: string; parallel: number };
  execute(request: EngineRequest, signal: AbortSignal): Promise<EngineResult>;
  /**
   * Like execute, but hands the completion's text to `onDelta` piece by piece as it is
   * generated (chat and FIM). Engines without it are streamed as one piece at the end.
   * Tool calls are not pieces: the caller sends them from the result.
   */
  stream?(request: EngineRequest, signal: AbortSignal, onDelta: (piece: StreamPiece) => void): Promise<EngineResult>;
  /**
   * The prompt tokens the request would be charged, counted with the model's own
   * tokenizer without running it (job estimates); null for a request it cannot count
   * exactly. Absent: the engine cannot count (upstream engines), callers approximate.
   */
  countPromptTokens?(request: EngineRequest, signal: AbortSignal): Promise<number | null>;
  close(): Promise<void>;
}

/**
 * The engine with `around` wrapped about each call, execute and stream alike (admission
 * checks, online queueing); everything else is the engine's own.
 */
export function aroundCalls(
  engine: Engine,
  around: (req: EngineRequest, signal: AbortSignal, call: () => Promise<EngineResult>) => Promise<EngineResult>,
): Engine {
  const stream = engine.stream;
  return {
    maxInFlight: engine.maxInFlight,
    queueAhead: engine.queueAhead,
    online: engine.online,
    execute: (req, signal) => around(req, signal, () => engine.execute(req, signal)),
    stream: stream && ((req, signal, onDelta) => around(req, signal, () => stream.call(engine, req, signal, onDelta))),
    countPromptTokens: engine.countPromptTokens?.bind(engine),
    close: () => engine.close(),
  };
}

/** A request the engine refuses before running it: Mistral's 422 body naming the field. */
export function invalidRequest(field: string, message: string): EngineError {
  return engineError('invalid_request', `${field}: ${message}`, { param: field, detail: [{ loc: ['body', field], msg: message, type: 'value_error' }] });
}

/** The content of a completion's first choice (chat message content, or completions `text`). */
function firstContent(body: Record<string, unknown>): unknown {
  const choice = (body.choices as { message?: { content?: unknown }; text?: unknown }[] | undefined)?.[0];
  return choice?.message?.content ?? choice?.text;
}

/** The text of a completion's first choice (chat message or completions `text`). */
export function completionText(body: Record<string, unknown>): string {
  return textOf(firstContent(body));
}

/** A result computed whole, handed over as one piece (engines or requests that cannot stream): its reasoning, then its text. */
export async function asOnePiece(result: Promise<EngineResult>, onDelta: (piece: StreamPiece) => void): Promise<EngineResult> {
  const r = await result;
  const thinking = thinkingOf(firstContent(r.body));
  if (thinking) onDelta({ thinking });
  onDelta(completionText(r.body));
  return r;
}

/** The reasoning in Mistral's content chunks (`{type: "thinking", thinking: [text chunks]}`). */
export function thinkingOf(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((c) => (c && typeof c === 'object' && (c as Record<string, unknown>).type === 'thinking' ? textOf((c as Record<string, unknown>).thinking) : ''))
    .join('');
}

/** Text content: a string, or Mistral's list of content chunks (only `text` chunks are the answer). */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((c) => (c && typeof c === 'object' && (c as Record<string, unknown>).type === 'text' ? String((c as Record<string, unknown>).text ?? '') : ''))
      .join('');
  return '';
}

/** Completion ids as Mistral writes them; streamed chunks carry the same form. */
export const completionId = () => `cmpl-${randomUUID().replace(/-/g, '')}`;
