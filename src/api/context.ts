import type { Db } from '../store/database.js';
import type { Queue } from '../queue/index.js';
import type { NudgeReason } from '../runner/runner.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { ModelRegistry } from '../models/registry.js';
import type { Config } from '../config.js';
import type { Clock } from '../clock.js';
import type { UrlSigner } from './signed-urls.js';
import type { ResultsReader } from '../results/results-reader.js';
import type { EnginePool } from '../engines/engine-pool.js';
import type { ValidationPool } from '../ingest/validation-pool.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { OnlineGate } from '../engines/online-gate.js';

/** Online inference: the engines this process serves models with. */
export interface OnlineGateway {
  engines: EnginePool;
}

/** What route handlers need, built once at start and passed down (no globals). */
export interface AppContext {
  config: Config;
  /** The process's structured logger; Fastify's access log is a child of it. */
  log: Logger;
  db: Db;
  /** The batch job lifecycle: every job and ledger statement goes through it. */
  queue: Queue;
  blobs: BlobStore;
  registry: ModelRegistry;
  clock: Clock;
  signer: UrlSigner;
  results: ResultsReader;
  /** Worker threads that validate uploads off the event loop. */
  validation: ValidationPool;
  /** Online inference; absent when the process has no engines (API-only tests). */
  online?: OnlineGateway;
  /** This process's Prometheus counters and histograms (GET /metrics). */
  metrics: Metrics;
  /** Tells the runners that jobs changed (created, cancelled) or that storage can be given back (a job deleted), so they need not wait for a tick. */
  nudge: (reason?: NudgeReason) => void;
}

const gates = new WeakMap<AppContext, OnlineGate>();

/**
 * The app's one online gate (engines/online-gate.ts), made on first use. Every online route
 * passes it, whatever its dialect (Mistral's and OpenAI's paths, Anthropic's /v1/messages),
 * so `onlineQueueLimit` bounds one queue per model rather than one per dialect.
 */
export function onlineGate(ctx: AppContext): OnlineGate {
  let gate = gates.get(ctx);
  if (!gate) gates.set(ctx, (gate = new OnlineGate(ctx.config.limits.onlineQueueLimit)));
  return gate;
}
