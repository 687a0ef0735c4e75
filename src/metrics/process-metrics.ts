import { collectDefaultMetrics, Registry } from 'prom-client';

let processRegistry: Registry | null = null;

/**
 * Node's own metrics (CPU, resident memory, heap, event loop lag, GC, handles), once per
 * process: they describe the process, not a server in it, so every server a process runs
 * (tests start several) shares this one set. It is not prom-client's global registry:
 * nothing else in the process can add to it by accident.
 */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}
