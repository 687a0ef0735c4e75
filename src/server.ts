import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { systemClock, type Clock } from './clock.js';
import { openDatabase, type Db } from './store/database.js';
import { LocalBlobStore } from './blobs/local-blob-store.js';
import type { BlobStore } from './blobs/blob-store.js';
import { buildRegistry, isUpstreamEngine, type ModelEntry, type ModelRegistry } from './models/registry.js';
import { getOrCreateSetting, randomSecret } from './store/settings.js';
import { UrlSigner } from './api/signed-urls.js';
import { ResultsReader } from './results/results-reader.js';
import { buildApp } from './api/app.js';
import { bootstrapKeys } from './bootstrap-keys.js';
import { prepareDataDir } from './data-dir.js';
import { EnginePool, type EngineFactory } from './engines/engine-pool.js';
import { ioThread } from './engines/http/io-thread.js';
import type { AppContext } from './api/context.js';
import { Runner, type NudgeReason } from './runner/runner.js';
import { DatabaseBlobStore } from './blobs/database-blob-store.js';
import { createQueue, type Queue } from './queue/index.js';
import type { PgJobSignals } from './store/postgres/job-signals.js';
import { ValidationPool } from './ingest/validation-pool.js';
import { createLogger, type Logger } from './logger.js';
import { startWebhooks } from './webhooks/start.js';
import type { WebhookDispatcher } from './webhooks/dispatcher.js';
import { Metrics } from './metrics/metrics.js';
import { instrumentFactories } from './metrics/engine-calls.js';
import { startMetricsListener } from './metrics/listener.js';

export interface ServerOptions {
  clock?: Clock;
  /** Engine factories by kind; tests may swap them. */
  engineFactories?: Partial<Record<ModelEntry['engine'], EngineFactory>>;
  /** Where the user-facing start-up lines go (the listening line, a generated key); none by default, the CLI prints them. */
  log?: (line: string) => void;
  /** Where start-up warnings go (a short seeded key); by default the structured logger. */
  warn?: (line: string) => void;
  /** The process's structured logger; by default one at BATCHD_LOG_LEVEL on stdout. */
  logger?: Logger;
  /** Called on every engine call the runner makes (tests count upstream attempts). */
  onAttempt?: () => void;
  /** Load llama.cpp at start and print the backend and device it runs on (`batchd serve`); otherwise it loads at a model's first use. */
  reportBackend?: boolean;
  /** Replaces the blob store (tests inject storage faults through it). */
  blobs?: (defaultStore: BlobStore) => BlobStore;
}

export interface RunningServer {
  app: FastifyInstance;
  runner: Runner | null;
  ctx: AppContext;
  url: string;
  close(): Promise<void>;
}

interface Core {
  log: Logger;
  db: Db;
  queue: Queue;
  blobs: BlobStore;
  registry: ModelRegistry;
  engines: EnginePool;
  runner: Runner | null;
  clock: Clock;
  signals: PgJobSignals | null;
  metrics: Metrics;
  /** Delivers terminal-state webhooks where jobs run (webhooks/). */
  webhooks: WebhookDispatcher | null;
  nudge: (reason?: NudgeReason) => void;
}

/** What every role shares: the store, the blobs, the registry, the engines and (unless API-only) a runner. */
async function openCore(config: Config, opts: ServerOptions, withRunner: boolean): Promise<Core> {
  prepareDataDir(config);
  const log = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? systemClock;
  const defaultModelPath = path.join(config.dataDir, 'models', 'batchd-tiny.gguf');
  // Generated embedding models, one per dimension the registry asks for (1024 for mistral-embed).
  const embeddingModels = new Map<string, number>();
  const embeddingModelPath = (dimension: number) => {
    const file = path.join(config.dataDir, 'models', `batchd-embed-${dimension}.gguf`);
    embeddingModels.set(file, dimension);
    return file;
  };
  const registry = buildRegistry({
    defaultModelPath,
    embeddingModelPath,
    defaultContextLength: config.llama.contextSize,
    configPath: config.configPath,
    modelFiles: config.modelFiles,
  });
  // Generated models are made on first start, only those some entry still uses.
  const llamaPaths = [...new Set(registry.models.filter((m) => m.engine === 'llama').map((m) => m.path!))];
  if (llamaPaths.includes(defaultModelPath)) {
    const { ensureDefaultModel } = await import('./engines/llama/gguf/tiny-model.js');
    await ensureDefaultModel(path.dirname(defaultModelPath));
  }
  // Generated embedding models are made at first use: writing one briefly takes tens of MB,
  // which a deployment that never embeds should not pay at every first start.
  const generating = new Map<string, Promise<void>>();
  const ensureGenerated = (file: string | undefined) => {
    const dimension = file === undefined ? undefined : embeddingModels.get(file);
    if (file === undefined || dimension === undefined) return Promise.resolve();
    const pending = generating.get(file);
    if (pending) return pending;
    const done = import('./engines/llama/gguf/embedding-model.js').then(async (m) => {
      await m.ensureEmbeddingModel(file, dimension);
    });
    done.catch(() => generating.delete(file));
    generating.set(file, done);
    return done;
  };
  // A missing or corrupt model file stops the start with an error naming it, not a failure at first use.
  if (llamaPaths.length && opts.engineFactories?.llama) {
    const { validateModelFile } = await import('./engines/llama/model-file.js');
    for (const p of llamaPaths) if (!embeddingModels.has(p) || fs.existsSync(p)) await validateModelFile(p);
    // /v1/models reports the context each embedded model will hold (its trained one within the memory budget).
    await (await import('./engines/llama/context-plan.js')).reportPlannedContexts(registry.models, config.llama);
  }
  const db = await openDatabase(config.databaseUrl, { pgPoolSize: config.pgPoolSize, log });
  const chosen: BlobStore = config.blobDir
    ? new LocalBlobStore(path.resolve(config.blobDir), { shared: true })
    : db.kind === 'postgres'
      ? new DatabaseBlobStore(db)
      : new LocalBlobStore(path.join(config.dataDir, 'blobs'));
  const blobs = opts.blobs ? opts.blobs(chosen) : chosen;
  const factories = { ...opts.engineFactories };
  const llama = factories.llama;
  if (llama) factories.llama = async (model) => (await ensureGenerated(model.path), llama(model));
  const metrics = new Metrics();
  const engines = new EnginePool(instrumentFactories(factories, metrics), { onlineReserve: config.onlineReserve });
  // Loaded with the process rather than at the first upstream call, which would wait for it.
  if (config.upstreamIoThread && registry.models.some((m) => isUpstreamEngine(m.engine))) ioThread().start();
  const queue = createQueue(db, { blobs, leaseMs: config.runner.leaseMs });
  // Across processes a NOTIFY wakes every runner; in one process a direct call does.
  let runner: Runner | null = null;
  const signals =
    db.kind === 'postgres'
      ? new (await import('./store/postgres/job-signals.js')).PgJobSignals(config.databaseUrl, (payload) =>
          runner?.nudge(payload === 'storage' ? 'storage' : 'jobs'),
        )
      : null;
  runner = withRunner
    ? new Runner(
        { queue, blobs, clock, registry, engines, log, metrics },
        { ...config.runner, maxPendingRequests: config.maxPendingRequests, onAttempt: opts.onAttempt, onAdmitted: () => signals?.notify('jobs') },
      )
    : null;
  await signals?.start();
  const nudge = (reason: NudgeReason = 'jobs') => {
    runner?.nudge(reason);
    signals?.notify(reason);
  };
  const webhooks = withRunner ? startWebhooks({ db, queue, clock, log, registry }, config) : null;
  return { log, db, queue, blobs, registry, engines, runner, clock, signals, metrics, webhooks, nudge };
}

async function closeCore(core: Core) {
  await core.runner?.stop();
  await core.webhooks?.stop();
  await core.signals?.close();
  await core.engines.close();
  await core.db.close();
}

/** Opens the store, builds the API and listens; prints `batchd listening on http://HOST:PORT` once ready. */
export async function startServer(config: Config, opts: ServerOptions = {}): Promise<RunningServer> {
  const say = opts.log ?? (() => undefined);
  const core = await openCore(config, opts, config.worker);
  const { db, runner } = core;
  try {
    await bootstrapKeys(db, config.dataDir, config.seedKeys, core.clock.now(), { log: say, warn: opts.warn ?? ((line) => core.log.warn(line)) });
    const validation = new ValidationPool(config.validationThreads);
    const ctx: AppContext = {
      log: core.log,
      validation,
      config,
      db,
      queue: core.queue,
      blobs: core.blobs,
      registry: core.registry,
      clock: core.clock,
      signer: new UrlSigner(await getOrCreateSetting(db.kysely, 'signed_url_secret', randomSecret)),
      results: new ResultsReader(core.queue),
      online: { engines: core.engines },
      nudge: core.nudge,
      metrics: core.metrics,
    };
    // Before listening: a BATCHD_LLAMA_GPU build that does not work here stops the start.
    if (opts.reportBackend && core.registry.models.some((m) => m.engine === 'llama')) {
      const { describeBackend } = await import('./engines/llama/backend.js');
      say(describeBackend(await (await import('./engines/llama/runtime.js')).llamaBackend(config.llama.gpu)));
    }
    const app = await buildApp(ctx);
    await app.listen({ host: config.host, port: config.port });
    await runner?.start();
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    say(`batchd listening on ${url}`);
    let closed = false;
    return {
      app,
      runner,
      ctx,
      url,
      close: async () => {
        if (closed) return;
        closed = true;
        // Stop taking requests and let in-flight ones finish, then hand running chunks back.
        await app.close();
        await validation.close();
        await closeCore(core);
      },
    };
  } catch (err) {
    await closeCore(core);
    throw err;
  }
}

/** A worker process: runs jobs from the shared store, serves no HTTP. */
export async function startWorker(config: Config, opts: ServerOptions = {}) {
  const core = await openCore(config, opts, true);
  // A worker serves no API: its counters get a listener of their own when BATCHD_METRICS_PORT asks for one.
  const metrics =
    config.metricsPort === null
      ? null
      : await startMetricsListener(core.metrics, config.host, config.metricsPort).catch(async (err: Error) => {
          await closeCore(core);
          throw err;
        });
  if (metrics) opts.log?.(`batchd worker metrics on ${metrics.url}`);
  await core.runner!.start();
  opts.log?.(`batchd worker ${core.runner!.worker.id} running`);
  return {
    runner: core.runner!,
    close: async () => {
      await metrics?.close();
      await closeCore(core);
    },
  };
}
