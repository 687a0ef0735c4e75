import { EngineError, type Endpoint, type Engine } from '../engines/engine.js';
import type { ModelEntry } from '../models/registry.js';
import type { LineOutcome } from '../results/render.js';
import type { Clock } from '../clock.js';
import type { ChunkLine } from '../ingest/chunk-reader.js';
import type { ErrorCode } from '../error-catalogue.js';
import { LineRequestError, type LineFormat } from '../dialects/types.js';
import { nextDelay, sleep, type RetryPolicy } from './retry.js';
import type { Slots } from './slots.js';

export interface LineJob {
  endpoint: Endpoint;
  model: ModelEntry;
  deadline: number;
  /** The job's dialect: translates each line's body for the engines. */
  format: LineFormat;
}

export interface LineDeps {
  engine: Engine;
  slots: Slots;
  retry: RetryPolicy;
  clock: Clock;
  /** Counts calls made to the engine (for the benchmark and the crash test's bound). */
  onAttempt?: () => void;
  /** A retryable failure is about to be tried again (metrics); `reason` is its catalogue code. */
  onRetry?: (reason: string) => void;
}

/**
 * Runs one request to its terminal outcome: success, a final failure with the model
 * server's status and body, or a retryable failure retried with backoff until the
 * attempts or the job's deadline run out. An engine slot is held only during a call,
 * never during a backoff wait. Throws only if `signal` aborts (the chunk was lost,
 * cancelled or timed out): then the line gets no record here.
 */
export async function executeLine(line: ChunkLine, job: LineJob, deps: LineDeps, signal: AbortSignal): Promise<LineOutcome> {
  const customId = line.request?.custom_id ?? null;
  const fail = (status: number | null, body: unknown, message: string, code: ErrorCode): LineOutcome => ({
    lineNo: line.lineNo,
    customId,
    ok: false,
    response: status === null ? null : { status_code: status, body },
    error: { message, code },
    promptTokens: 0,
    completionTokens: 0,
  });
  if (!line.request) return fail(null, null, `Invalid request line: ${line.problem}`, 'invalid_request');
  // The job's model is the one that runs: a job is for one model, whatever a line's body says.
  let body: Record<string, unknown>;
  try {
    body = { ...job.format.request(line.request.body, job.endpoint), model: job.model.id };
  } catch (err) {
    if (!(err instanceof LineRequestError)) throw err;
    return fail(400, null, err.message, 'invalid_request');
  }
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw signal.reason;
    if (!deps.slots.tryAcquire()) await deps.slots.acquire(signal);
    let error: unknown;
    try {
      deps.onAttempt?.();
      const res = await deps.engine.execute({ endpoint: job.endpoint, body, model: job.model, priority: 'batch' }, signal);
      return {
        lineNo: line.lineNo,
        customId,
        ok: true,
        response: { status_code: 200, body: res.body },
        error: null,
        promptTokens: res.usage.prompt_tokens,
        completionTokens: res.usage.completion_tokens,
      };
    } catch (err) {
      error = err;
    } finally {
      deps.slots.release();
    }
    if (signal.aborted) throw signal.reason;
    if (!(error instanceof EngineError)) {
      return fail(500, null, `Internal error while running the request: ${(error as Error)?.message ?? String(error)}`, 'internal_error');
    }
    if (!error.retryable) return fail(error.statusCode, error.body, error.message, error.code);
    const delay = nextDelay(deps.retry, attempt, error.retryAfterMs, deps.clock.now(), job.deadline);
    if (delay === null) {
      return fail(error.statusCode || null, error.body, `${error.message} (gave up after ${attempt} attempt${attempt > 1 ? 's' : ''})`, error.code);
    }
    deps.onRetry?.(error.code);
    await sleep(delay, signal);
  }
}
