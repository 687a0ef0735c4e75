import type { Config } from '../config.js';
import type { ModelEntry } from '../models/registry.js';
import type { EngineFactory } from './engine-pool.js';
import { createEchoEngine } from './echo.js';
import { capInputs } from './input-cap.js';
import { createMistralEngine } from './mistral.js';
import { createOpenAiEngine } from './openai/openai-engine.js';

/** The engines a batchd process can run, by registry `engine` kind. */
export function defaultEngineFactories(config: Config): Partial<Record<ModelEntry['engine'], EngineFactory>> {
  const opts = { requestTimeoutMs: config.upstreamTimeoutMs, ioThread: config.upstreamIoThread };
  // Every engine, online and batch alike, refuses requests of more inputs than the cap.
  const capped =
    (factory: EngineFactory): EngineFactory =>
    async (model) =>
      capInputs(await factory(model), config.limits.maxInputsPerRequest);
  return {
    echo: capped(async (model) => createEchoEngine(model)),
    openai: capped(async (model) => createOpenAiEngine(model, opts)),
    mistral: capped(async (model) => createMistralEngine(model, opts)),
    llama: capped(async (model) => {
      // Loaded only when a llama model is used: node-llama-cpp is large.
      const { createLlamaEngine } = await import('./llama/llama-engine.js');
      return createLlamaEngine(model, config.llama);
    }),
  };
}
