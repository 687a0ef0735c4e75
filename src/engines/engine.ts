import { randomUUID } from 'node:crypto';
import type { ModelEntry } from '../models/registry.js';

/** The endpoints a batch (or an online call) can target. */
export const ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/fim/completions',
  '/v1/moderations',
  '/v1/chat/moderations',
  '/v1/classifications',
  '/v1/chat/classifications',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

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
 */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly statusCode: number,
    readonly body: unknown = null,
    /** Milliseconds the upstream asked us to wait (Retry-After). */
    readonly retryAfterMs: number | null = null,
    readonly code: string = retryable ? 'upstream_unavailable' : 'invalid_request',
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/**
 * One interface every engine implements. Engines know nothing of jobs: they turn one
 * request into one response. Concurrency is theirs to declare; the runner fills it.
 */
export interface Engine {
  /** How many requests the engine wants in flight at once. */
  readonly maxInFlight: number;
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
  close(): Promise<void>;
}

/**
 * The engine with `around` wrapped about each call, execute and stream alike (admission
 * checks, online queueing); everything else is the engine's own.
 */
export function aroundCalls(engine: Engine, around: (req: EngineRequest, signal: AbortSignal, call: () => Promise<EngineResult>) => Promise<EngineResult>): Engine {
  const stream = engine.stream;
  return {
    maxInFlight: engine.maxInFlight,
    online: engine.online,
    execute: (req, signal) => around(req, signal, () => engine.execute(req, signal)),
    stream: stream && ((req, signal, onDelta) => around(req, signal, () => stream.call(engine, req, signal, onDelta))),
    close: () => engine.close(),
  };
}

/** A request the engine refuses before running it: Mistral's 422 body naming the field. */
export function invalidRequest(field: string, message: string): EngineError {
  const msg = `${field}: ${message}`;
  return new EngineError(msg, false, 422, { object: 'error', message: msg, type: 'invalid_request_error', param: field, code: null, detail: [{ loc: ['body', field], msg: message, type: 'value_error' }] }, null, 'invalid_request');
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
  return content.map((c) => (c && typeof c === 'object' && (c as Record<string, unknown>).type === 'thinking' ? textOf((c as Record<string, unknown>).thinking) : '')).join('');
}

/** Text content: a string, or Mistral's list of content chunks (only `text` chunks are the answer). */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (c && typeof c === 'object' && (c as Record<string, unknown>).type === 'text' ? String((c as Record<string, unknown>).text ?? '') : '')).join('');
  return '';
}

/** Completion ids as Mistral writes them; streamed chunks carry the same form. */
export const completionId = () => `cmpl-${randomUUID().replace(/-/g, '')}`;
