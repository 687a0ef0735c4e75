import type { Endpoint } from '../engines/endpoints.js';
import type { LineOutcome } from '../results/render.js';

/** The APIs batchd speaks; a job remembers the one it was created through (batch_jobs.dialect). */
export const API_DIALECTS = ['mistral', 'openai', 'anthropic'] as const;
export type ApiDialect = (typeof API_DIALECTS)[number];

/** A request line the dialect cannot express for the engines: the line fails with this message (400, invalid_request). */
export class LineRequestError extends Error {}

/**
 * How a dialect's batch lines meet the engines. The engines take and answer Mistral-shaped
 * bodies; a dialect translates each line's body on the way in and renders the terminal
 * outcome (whose response body is the engine's) as one line of its output or error file.
 */
export interface LineFormat {
  /** The line's body as the engines take it; throws LineRequestError for a body the dialect refuses. */
  request(body: Record<string, unknown>, endpoint: Endpoint): Record<string, unknown>;
  /** One JSONL line (no newline) of the job's output or error file. */
  render(jobId: string, outcome: LineOutcome): string;
  /** The format for one endpoint's jobs, where a dialect renders answers by endpoint (OpenAI: a FIM answer is a text_completion). */
  forEndpoint?(endpoint: Endpoint): LineFormat;
}
