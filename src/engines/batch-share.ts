import { aroundCalls, type Engine } from './engine.js';

/** How long after the last online call its reserve is kept: a batch alone gets every connection back after this. */
export const ONLINE_HOLD_MS = 30_000;

/**
 * Batch lines' share of an engine's in-flight calls while online traffic is about: at most
 * floor(maxInFlight × (1 − reserve)) batch calls at once (at least one), so `reserve` of
 * the connections to an upstream are free for online calls, which pass straight through.
 * Without it a running batch holds every connection and an online call waits behind a
 * batch call at the upstream (bench/online-latency.ts measures the difference).
 *
 * The reserve is held only while online calls have been seen in the last `holdMs`: a
 * reserve nobody uses would cap a batch running alone at (1 − reserve) of the engine's
 * throughput. After a quiet spell the first online call may meet a full upstream; from
 * then on batch calls above the share are not replaced as they finish, so within one
 * batch call's time the reserve is free again.
 *
 * Batch calls beyond the share wait here, in order, before any request is sent, so the
 * upstream's own timeout does not start while they wait.
 */
export function reserveForOnline(engine: Engine, reserve: number, holdMs = ONLINE_HOLD_MS, now: () => number = () => performance.now()): Engine {
  if (reserve <= 0) return engine;
  const share = batchShare(engine.maxInFlight, reserve);
  let onlineAt = -Infinity;
  let running = 0;
  const waiting: (() => void)[] = [];
  // Alone, a batch may also fill the calls the engine holds waiting (Engine.queueAhead).
  const alone = engine.maxInFlight + (engine.queueAhead ?? 0);
  const limit = () => (now() - onlineAt < holdMs ? share : alone);
  const admit = () => {
    while (waiting.length && running < limit()) {
      running++;
      waiting.shift()!();
    }
  };
  const acquire = (signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      if (running < limit()) return (running++, resolve());
      const go = () => {
        signal.removeEventListener('abort', abort);
        resolve();
      };
      const abort = () => {
        const i = waiting.indexOf(go);
        if (i >= 0) waiting.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', abort, { once: true });
      waiting.push(go);
    });
  return aroundCalls(engine, async (req, signal, call) => {
    if (req.priority !== 'batch') {
      onlineAt = now();
      return call();
    }
    await acquire(signal);
    try {
      return await call();
    } finally {
      running--;
      admit();
    }
  });
}

/** The in-flight calls batch work may hold of `maxInFlight`, keeping `reserve` (a fraction) for online calls. */
export const batchShare = (maxInFlight: number, reserve: number) => Math.max(1, Math.floor(maxInFlight * (1 - reserve)));
