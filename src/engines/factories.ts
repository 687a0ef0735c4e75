import type { Config } from '../config.js';
import type { ModelEntry } from '../models/registry.js';
import type { EngineFactory } from './engine-pool.js';
import { createEchoEngine } from './echo.js';
import { createMistralEngine } from './mistral.js';
import { createOpenAiEngine } from './openai/openai-engine.js';

/** The engines a batchd process can run, by registry `engine` kind. */
export function defaultEngineFactories(config: Config): Partial<Record<ModelEntry['engine'], EngineFactory>> {
  const opts = { requestTimeoutMs: config.upstreamTimeoutMs };
  return {
    echo: async (model) => createEchoEngine(model),
    openai: async (model) => createOpenAiEngine(model, opts),
    mistral: async (model) => createMistralEngine(model, opts),
    llama: async (model) => {
      // Loaded only when a llama model is used: node-llama-cpp is large.
      const { createLlamaEngine } = await import('./llama/llama-engine.js');
      return createLlamaEngine(model, config.llama);
    },
  };
}
