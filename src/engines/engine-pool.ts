import type { ModelEntry } from '../models/registry.js';
import type { Engine } from './engine.js';

export type EngineFactory = (model: ModelEntry) => Promise<Engine>;

/**
 * One engine per registry entry, created on first use and shared by the runner and
 * the online routes, so both draw on the same connection pool or loaded model.
 */
export class EnginePool {
  private readonly engines = new Map<string, Promise<Engine>>();

  constructor(private readonly factories: Partial<Record<ModelEntry['engine'], EngineFactory>>) {}

  get(model: ModelEntry): Promise<Engine> {
    let engine = this.engines.get(model.id);
    if (!engine) {
      const factory = this.factories[model.engine];
      engine = factory ? factory(model) : Promise.reject(new Error(`no engine of kind '${model.engine}' is available in this process`));
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
