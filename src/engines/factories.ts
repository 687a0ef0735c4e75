import type { Config } from '../config.js';
import type { ModelEntry } from '../models/registry.js';
import type { EngineFactory } from './engine-pool.js';
import { createEchoEngine } from './echo.js';

/** The engines a batchd process can run, by registry `engine` kind. */
export function defaultEngineFactories(_config: Config): Partial<Record<ModelEntry['engine'], EngineFactory>> {
  return {
    echo: async (model) => createEchoEngine(model),
  };
}
