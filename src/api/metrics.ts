import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { readStoreMetrics } from '../store/store-metrics.js';
import { ChunkState } from '../queue/states.js';

type Sample = [labels: Record<string, string> | null, value: number];

/** One metric family in Prometheus' text exposition format. */
function family(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const l = labels
      ? `{${Object.entries(labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',')}}`
      : '';
    lines.push(`${name}${l} ${value}`);
  }
  return lines.join('\n');
}

/**
 * GET /metrics: Prometheus text format, for dashboards and alerts on queue depth and
 * worker activity across the deployment. Like /health it needs no key: it holds only
 * aggregate counts, never an id or a workspace name.
 */
export function registerMetrics(app: FastifyInstance, ctx: AppContext) {
  app.get('/metrics', async (_req, reply) => {
    const m = await readStoreMetrics(ctx.db.kysely, ctx.clock.now());
    const cpu = process.cpuUsage();
    const text = [
      family(
        'batchd_jobs',
        'gauge',
        'Jobs by status (deleted jobs not counted).',
        Object.entries(m.jobs).map(([status, n]) => [{ status }, n]),
      ),
      family('batchd_requests_waiting', 'gauge', 'Requests of queued and running jobs that have no terminal record yet.', [[null, m.requestsWaiting]]),
      family('batchd_chunks', 'gauge', 'Work chunks of unfinished jobs that are not done, by state.', [
        [{ state: ChunkState.PENDING }, m.chunks.pending],
        [{ state: ChunkState.LEASED }, m.chunks.leased],
      ]),
      family('batchd_workers_active', 'gauge', 'Workers holding a live lease on a chunk.', [[null, m.workersActive]]),
      family('process_resident_memory_bytes', 'gauge', 'Resident memory of this process.', [[null, process.memoryUsage.rss()]]),
      family('process_cpu_seconds_total', 'counter', 'CPU time of this process.', [[null, (cpu.user + cpu.system) / 1e6]]),
    ].join('\n');
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(`${text}\n`);
  });
}
