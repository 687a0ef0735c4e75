import { Gauge, type Registry } from 'prom-client';
import type { StoreMetrics } from '../store/store-metrics.js';
import { ChunkState } from '../queue/states.js';

/**
 * What the whole deployment is doing, as the store sees it: the same on every API node,
 * so across nodes take max (or scrape one), never sum. Names and labels are those /metrics
 * had before prom-client, so existing dashboards keep working. Set from one store read
 * just before each scrape.
 */
export class QueueGauges {
  private readonly jobs: Gauge<'status'>;
  private readonly waiting: Gauge;
  private readonly chunks: Gauge<'state'>;
  private readonly workers: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.jobs = new Gauge({ name: 'batchd_jobs', help: 'Jobs by status (deleted jobs not counted).', labelNames: ['status'], registers });
    this.waiting = new Gauge({ name: 'batchd_requests_waiting', help: 'Requests of queued and running jobs that have no terminal record yet.', registers });
    this.chunks = new Gauge({ name: 'batchd_chunks', help: 'Work chunks of unfinished jobs that are not done, by state.', labelNames: ['state'], registers });
    this.workers = new Gauge({ name: 'batchd_workers_active', help: 'Workers holding a live lease on a chunk.', registers });
  }

  set(m: StoreMetrics): void {
    for (const [status, n] of Object.entries(m.jobs)) this.jobs.set({ status }, n);
    this.waiting.set(m.requestsWaiting);
    this.chunks.set({ state: ChunkState.PENDING }, m.chunks.pending);
    this.chunks.set({ state: ChunkState.LEASED }, m.chunks.leased);
    this.workers.set(m.workersActive);
  }
}
