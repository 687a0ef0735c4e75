import type { ModelEntry } from '../models/registry.js';
import type { Engine } from './engine.js';
import { reserveForOnline } from './batch-share.js';

export type EngineFactory = (model: ModelEntry) => Promise<Engine>;

/** Engines that call an upstream server over HTTP: their connections are shared by online and batch calls. */
const UPSTREAM_KINDS: ReadonlySet<ModelEntry['engine']> = new Set(['openai', 'mistral']);

export interface EnginePoolOptions {
  /** Share of an upstream engine's max_in_flight kept for online calls (config.onlineReserve); 0 = none. */
  onlineReserve?: number;
}

/**
 * One engine per registry entry, created on first use and shared by the runner and
 * the online routes, so both draw on the same connection pool or loaded model. On
 * upstream engines batch calls take at most their share (batch-share.ts), so online
 * calls always find a free connection; the embedded engine ranks online work first in
 * its own sequence pool.
 */
export class EnginePool {
  private readonly engines = new Map<string, Promise<Engine>>();

  constructor(
    private readonly factories: Partial<Record<ModelEntry['engine'], EngineFactory>>,
    private readonly opts: EnginePoolOptions = {},
  ) {}

  get(model: ModelEntry): Promise<Engine> {
    let engine = this.engines.get(model.id);
    if (!engine) {
      const factory = this.factories[model.engine];
      const reserve = UPSTREAM_KINDS.has(model.engine) ? (this.opts.onlineReserve ?? 0) : 0;
      engine = factory
        ? factory(model).then((e) => reserveForOnline(e, reserve))
        : Promise.reject(new Error(`no engine of kind '${model.engine}' is available in this process`));
      // A failed start (missing model file) is retried on the next use rather than cached forever.
      engine.catch(() => this.engines.delete(model.id));
      this.engines.set(model.id, engine);
    }
    return engine;
  }

  async close(): Promise<void> {
    const all = [...this.engines.values()];
    this.engines.clear();
    await Promise.allSettled(all.map(async (e) => (await e).close()));
  }
}
