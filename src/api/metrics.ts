import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { readStoreMetrics } from '../store/store-metrics.js';

/**
 * GET /metrics: Prometheus text format, for dashboards and alerts. Like /health it needs no
 * key: it holds only aggregate counts, never an id or a workspace name. The queue gauges
 * are the whole deployment's, read from the store at each scrape; counters and histograms
 * are this process's own (src/metrics/metrics.ts).
 */
export function registerMetrics(app: FastifyInstance, ctx: AppContext) {
  const gauges = ctx.metrics.queueGauges();
  app.get('/metrics', async (_req, reply) => {
    gauges.set(await readStoreMetrics(ctx.db.kysely, ctx.clock.now()));
    return reply.type(ctx.metrics.contentType).send(await ctx.metrics.exposition());
  });
}

/** Matched no route (404s and 405s): one label value, whatever the path, so a scan of random URLs adds no series. */
const UNMATCHED = 'unmatched';

/**
 * Times every request by its route pattern (`/v1/batch/jobs/:job_id`, never the URL, which
 * would make a series per id). onResponse runs when the response has been sent, for
 * streamed and hijacked replies too, so the time covers the whole response.
 */
export function registerHttpMetrics(app: FastifyInstance, ctx: AppContext) {
  const histogram = ctx.metrics.httpDuration;
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? UNMATCHED;
    histogram.observe({ route, method: req.method, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
}
