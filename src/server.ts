import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { systemClock, type Clock } from './clock.js';
import { openDatabase, type Db } from './store/database.js';
import { LocalBlobStore } from './blobs/local-blob-store.js';
import { buildRegistry } from './models/registry.js';
import { getOrCreateSetting, randomSecret } from './store/settings.js';
import { UrlSigner } from './api/signed-urls.js';
import { ResultsReader } from './results/results-reader.js';
import { buildApp } from './api/app.js';
import { bootstrapKeys } from './bootstrap-keys.js';
import { EnginePool, type EngineFactory } from './engines/engine-pool.js';
import type { AppContext } from './api/context.js';
import type { ModelEntry } from './models/registry.js';
import { Runner } from './runner/runner.js';

export interface ServerOptions {
  clock?: Clock;
  /** Engine factories by kind; tests may swap them. */
  engineFactories?: Partial<Record<ModelEntry['engine'], EngineFactory>>;
  /** Where start-up messages go (the listening line, a generated key). */
  log?: (line: string) => void;
  /** Called on every engine call the runner makes (tests count upstream attempts). */
  onAttempt?: () => void;
}

export interface RunningServer {
  app: FastifyInstance;
  runner: Runner | null;
  ctx: AppContext;
  url: string;
  close(): Promise<void>;
}

/** Opens the store, builds the API and listens; prints `batchd listening on http://HOST:PORT` once ready. */
export async function startServer(config: Config, opts: ServerOptions = {}): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? ((line: string) => console.log(line));
  const registry = buildRegistry({
    defaultModelPath: path.join(config.dataDir, 'models', 'batchd-tiny.gguf'),
    configPath: config.configPath,
    modelFiles: config.modelFiles,
  });
  const db: Db = await openDatabase(config.databaseUrl);
  try {
    const generated = await bootstrapKeys(db.kysely, config.dataDir, config.seedKeys, clock.now());
    if (generated) log(`batchd API key for workspace 'default': ${generated}`);
    const signer = new UrlSigner(await getOrCreateSetting(db.kysely, 'signed_url_secret', randomSecret));
    const engines = new EnginePool(opts.engineFactories ?? {});
    const blobs = new LocalBlobStore(path.join(config.dataDir, 'blobs'));
    const runner = config.worker
      ? new Runner({ db: db.kysely, kind: db.kind, blobs, clock, registry, engines }, { ...config.runner, maxPendingRequests: config.maxPendingRequests, onAttempt: opts.onAttempt })
      : null;
    const ctx: AppContext = {
      config,
      db,
      blobs,
      registry,
      clock,
      signer,
      results: new ResultsReader(db.kysely),
      online: { engines },
      nudge: () => runner?.nudge(),
    };
    const app = await buildApp(ctx);
    await app.listen({ host: config.host, port: config.port });
    await runner?.start();
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    log(`batchd listening on ${url}`);
    let closed = false;
    return {
      app,
      runner,
      ctx,
      url,
      close: async () => {
        if (closed) return;
        closed = true;
        await app.close();
        await runner?.stop();
        await engines.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
