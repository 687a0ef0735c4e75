import { Slots } from '../runner/slots.js';
import { aroundCalls, type Engine } from './engine.js';

/**
 * Batch lines' share of an engine's in-flight calls: at most
 * floor(maxInFlight × (1 − reserve)) batch calls at once (at least one), so `reserve`
 * of the connections to an upstream are always free for online calls, which pass
 * straight through. Without it a running batch holds every connection and an online
 * call waits behind a batch call at the upstream (bench/online-latency.ts measures
 * the difference). Batch calls beyond the share wait here, in order, before any
 * request is sent, so the upstream's own timeout does not start while they wait.
 */
export function reserveForOnline(engine: Engine, reserve: number): Engine {
  if (reserve <= 0) return engine;
  const batch = new Slots(batchShare(engine.maxInFlight, reserve));
  return aroundCalls(engine, async (req, signal, call) => {
    if (req.priority !== 'batch') return call();
    await batch.acquire(signal);
    try {
      return await call();
    } finally {
      batch.release();
    }
  });
}

/** The in-flight calls batch work may hold of `maxInFlight`, keeping `reserve` (a fraction) for online calls. */
export const batchShare = (maxInFlight: number, reserve: number) => Math.max(1, Math.floor(maxInFlight * (1 - reserve)));
