import { randomUUID } from 'node:crypto';
import type { ErrorCode } from '../error-catalogue.js';

/** A line's terminal outcome, before rendering. */
export interface LineOutcome {
  lineNo: number;
  customId: string | null;
  ok: boolean;
  /** Present when a model server answered (any status). */
  response: { status_code: number; body: unknown } | null;
  /** Present on failure: what went wrong, and a stable code from the error catalogue (`batch_expired`, `batch_cancelled`, `upstream_timeout`…). */
  error: { message: string; code: ErrorCode } | null;
  promptTokens: number;
  completionTokens: number;
}

/**
 * One line of the output or error file, in Mistral's shape:
 * `{"id":"batch-<job8>-<line>-<uuid>","custom_id":…,"response":{"status_code","body"}|null,"error":null|{message,code}}`.
 * The line number in `id` is 1-based, like the docs' examples.
 */
export function renderResultLine(jobId: string, o: LineOutcome): string {
  return JSON.stringify({
    id: `batch-${jobId.slice(0, 8)}-${o.lineNo + 1}-${randomUUID()}`,
    custom_id: o.customId,
    response: o.response,
    error: o.error,
  });
}

/** A line that never got a model response: expired, cancelled, unreadable, model unavailable. */
export const failedWithoutResponse = (lineNo: number, customId: string | null, code: ErrorCode, message: string): LineOutcome => ({
  lineNo,
  customId,
  ok: false,
  response: null,
  error: { message, code },
  promptTokens: 0,
  completionTokens: 0,
});

export const expiredOutcome = (lineNo: number, customId: string | null) =>
  failedWithoutResponse(lineNo, customId, 'batch_expired', 'The batch job timed out before this request ran (timeout_hours exceeded).');

export const cancelledOutcome = (lineNo: number, customId: string | null) =>
  failedWithoutResponse(lineNo, customId, 'batch_cancelled', 'The batch job was cancelled before this request finished.');
