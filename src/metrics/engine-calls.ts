import { aroundCalls, EngineError, type Engine } from '../engines/engine.js';
import type { EngineFactory } from '../engines/engine-pool.js';
import type { ModelEntry } from '../models/registry.js';
import type { Metrics } from './metrics.js';

/**
 * Every engine the pool makes, timed on each call (batch attempts and online calls alike),
 * with online calls counted here too: they are one engine call each, whichever dialect's
 * route made them. Batch lines are counted where their records are committed (worker.ts),
 * since one line may take several calls.
 */
export function instrumentEngine(engine: Engine, metrics: Metrics): Engine {
  return aroundCalls(engine, async (req, signal, call) => {
    const labels = { model: req.model.id, endpoint: req.endpoint };
    const end = metrics.engineDuration.startTimer(labels);
    try {
      const result = await call();
      if (req.priority === 'online') metrics.onlineCall(labels.model, labels.endpoint, result);
      return result;
    } catch (err) {
      if (req.priority === 'online') metrics.onlineCall(labels.model, labels.endpoint, { code: failureCode(err, signal) });
      throw err;
    } finally {
      end();
    }
  });
}

/** The catalogue code of a failed call; a call its client gave up on is `client_closed`, anything else unexpected `internal_error`. */
function failureCode(err: unknown, signal: AbortSignal): string {
  if (err instanceof EngineError) return err.code;
  return signal.aborted ? 'client_closed' : 'internal_error';
}

/** The factories, each making instrumented engines. */
export function instrumentFactories<K extends ModelEntry['engine']>(
  factories: Partial<Record<K, EngineFactory>>,
  metrics: Metrics,
): Partial<Record<K, EngineFactory>> {
  const out: Partial<Record<K, EngineFactory>> = {};
  for (const [kind, factory] of Object.entries(factories) as [K, EngineFactory | undefined][]) {
    if (factory) out[kind] = async (model) => instrumentEngine(await factory(model), metrics);
  }
  return out;
}
