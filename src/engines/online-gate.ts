import { onAbort } from '../abort-links.js';
import { aroundCalls, engineError, type EngineError, type Engine } from './engine.js';

/** Longest Retry-After the gate suggests, in seconds. */
const MAX_RETRY_AFTER_S = 60;

interface Line {
  /** Online requests inside the engine. */
  running: number;
  /** Online requests waiting for one of them to finish, oldest first. */
  waiting: (() => void)[];
  /** Moving average of an online request's time inside the engine (ms); null before the first. */
  averageMs: number | null;
}

/**
 * Admission of online requests, per engine resource (a model file on the embedded engine,
 * a registry entry upstream): at most `parallel` of them inside the engine, at most
 * `queueLimit` more waiting here, in order; any beyond are refused at once with a
 * retryable 429 (Mistral's `rate_limited`) and an estimate of when to come back. Batch
 * work never passes here: the runner fills the engine's slots on its own, so a flood of
 * online calls is shed while batch lines keep running.
 *
 * One gate for every engine kind, instead of a queue bound in each engine: the embedded
 * engine's sequence pool and the upstream engines' connection pools (shared with the
 * runner) only see requests the gate let through.
 */
export class OnlineGate {
  private readonly lines = new Map<string, Line>();

  constructor(
    private readonly queueLimit: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The engine as the online routes use it: each execute (or stream) passes the gate first. */
  wrap(engine: Engine, modelId: string): Engine {
    const key = engine.online?.pool ?? `model:${modelId}`;
    const parallel = Math.max(1, engine.online?.parallel ?? engine.maxInFlight);
    return aroundCalls(engine, (_req, signal, call) => this.run(key, parallel, signal, call));
  }

  /** Online requests inside the engine and waiting, for `key` (tests, metrics). */
  load(key: string): { running: number; waiting: number } {
    const line = this.lines.get(key);
    return { running: line?.running ?? 0, waiting: line?.waiting.length ?? 0 };
  }

  async run<T>(key: string, parallel: number, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    let line = this.lines.get(key);
    if (!line) this.lines.set(key, (line = { running: 0, waiting: [], averageMs: null }));
    if (line.running < parallel) line.running++;
    else if (line.waiting.length < this.queueLimit) await this.wait(line, signal);
    else throw this.full(line, parallel);
    const start = this.now();
    try {
      return await fn();
    } finally {
      const ms = this.now() - start;
      line.averageMs = line.averageMs === null ? ms : 0.8 * line.averageMs + 0.2 * ms;
      // The place passes straight to the oldest waiter, so `running` stays the same.
      const next = line.waiting.shift();
      if (next) next();
      else line.running--;
    }
  }

  private wait(line: Line, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const grant = () => {
        unlink();
        resolve();
      };
      const unlink = onAbort(signal, () => {
        const i = line.waiting.indexOf(grant);
        if (i >= 0) line.waiting.splice(i, 1);
        reject(signal.reason);
      });
      line.waiting.push(grant);
    });
  }

  /**
   * 429 with Retry-After: the time the queue ahead takes to drain at the measured pace
   * (waiting + 1 requests over `parallel` places), at least 1 s and at most a minute.
   */
  private full(line: Line, parallel: number): EngineError {
    const seconds =
      line.averageMs === null ? 1 : Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil((line.averageMs * (line.waiting.length + 1)) / parallel / 1000)));
    const message = `This model is busy: ${line.running} online requests are running and ${line.waiting.length} are waiting, the most this server queues per model. Retry after ${seconds} s, or send the requests as a batch job.`;
    return engineError('online_queue_full', message, { retryAfterMs: seconds * 1000 });
  }
}
