import { Counter, Histogram, Registry } from 'prom-client';
import type { LineOutcome } from '../results/render.js';
import type { Usage } from '../engines/engine.js';
import { processMetrics } from './process-metrics.js';
import { QueueGauges } from './queue-gauges.js';

/** Where a request came from: a batch job's line, or an online call. */
export type RequestMode = 'batch' | 'online';

/** Seconds; an engine call lasts from milliseconds (echo, embeddings) to minutes (long generations upstream). */
const ENGINE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** Seconds; uploads and online generations make the slow end. */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The counters and histograms of one batchd process (one per server or worker: tests run
 * several in one process, each with its own). Every label is bounded: model ids come from
 * the registry, endpoints from ENDPOINTS, codes from the error catalogue, routes are route
 * patterns. Counters are this process's own, from its start: with several processes,
 * scrape each and sum (README "Metrics and OpenAPI").
 */
export class Metrics {
  readonly registry = new Registry();

  /**
   * Batch lines count once, when their terminal record is committed (not per attempt: a
   * retried line is one request; a line whose record a lost lease refused is counted by the
   * worker that records it). Online calls count once per call that reached an engine.
   */
  readonly requests = new Counter({
    name: 'batchd_requests_total',
    help: 'Requests run to an outcome: batch lines when their terminal record is committed, online calls when the engine answers. code: the error catalogue code of a failure.',
    labelNames: ['mode', 'model', 'endpoint', 'outcome', 'code'] as const,
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'batchd_tokens_total',
    help: 'Tokens of recorded batch lines and answered online calls, by kind (prompt, completion).',
    labelNames: ['model', 'kind'] as const,
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'batchd_retries_total',
    help: 'Batch line attempts that failed retryably and were tried again, by the error code of the failure.',
    labelNames: ['model', 'reason'] as const,
    registers: [this.registry],
  });

  readonly engineDuration = new Histogram({
    name: 'batchd_engine_request_duration_seconds',
    help: 'Time of each engine call (every attempt, batch and online, successful or not), without the wait for a slot.',
    labelNames: ['model', 'endpoint'] as const,
    buckets: ENGINE_BUCKETS,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'batchd_http_request_duration_seconds',
    help: 'Time from a request arriving to its response finishing, by route pattern.',
    labelNames: ['route', 'method', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  private gauges: QueueGauges | null = null;

  constructor() {
    // From the first server on: the process's CPU counter counts from when it is made.
    processMetrics();
  }

  /**
   * Lines whose terminal records were just committed. Counted per outcome, not per line:
   * each inc hashes its labels, and a group is mostly one outcome.
   */
  linesRecorded(model: string, endpoint: string, outcomes: readonly LineOutcome[]): void {
    let prompt = 0;
    let completion = 0;
    const byCode = new Map<string | null, number>();
    for (const o of outcomes) {
      const code = o.ok ? null : (o.error?.code ?? 'internal_error');
      byCode.set(code, (byCode.get(code) ?? 0) + 1);
      prompt += o.promptTokens;
      completion += o.completionTokens;
    }
    for (const [code, n] of byCode) this.countRequest('batch', model, endpoint, code, n);
    this.countTokens(model, prompt, completion);
  }

  /** An online call's end: its usage when it succeeded, else the code it failed with. */
  onlineCall(model: string, endpoint: string, result: { usage: Usage } | { code: string }): void {
    if ('usage' in result) {
      this.countRequest('online', model, endpoint, null);
      this.countTokens(model, result.usage.prompt_tokens, result.usage.completion_tokens);
    } else this.countRequest('online', model, endpoint, result.code);
  }

  retried(model: string, reason: string): void {
    this.retries.inc({ model, reason });
  }

  /** The store-wide queue gauges, registered on first use (only processes that serve /metrics over the API read the store for them). */
  queueGauges(): QueueGauges {
    return (this.gauges ??= new QueueGauges(this.registry));
  }

  /** Prometheus' text format: this process's default metrics, then batchd's. */
  async exposition(): Promise<string> {
    return Registry.merge([processMetrics(), this.registry]).metrics();
  }

  private countRequest(mode: RequestMode, model: string, endpoint: string, code: string | null, n = 1) {
    if (code === null) this.requests.inc({ mode, model, endpoint, outcome: 'success' }, n);
    else this.requests.inc({ mode, model, endpoint, outcome: 'failure', code }, n);
  }

  private countTokens(model: string, prompt: number, completion: number) {
    if (prompt > 0) this.tokens.inc({ model, kind: 'prompt' }, prompt);
    if (completion > 0) this.tokens.inc({ model, kind: 'completion' }, completion);
  }
}
