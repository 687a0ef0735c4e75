import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../api/context.js';
import type { ModelLoadObject } from '../api/objects.js';
import type { ModelEntry } from '../models/registry.js';
import { modelLoad } from '../queue/model-load.js';

/**
 * GET /v1/dashboard/models: what the dashboard's models page shows beside GET /v1/models,
 * for the caller's workspace only: each model's engine and backend, and of this workspace's
 * running jobs the lines in leased chunks not yet recorded and the lines still waiting. The
 * store knows no more: how many calls are at an engine right now is each process's own (the
 * online gate and the runner's slots), not in the store, so leased lines are what is shown.
 * Recent throughput is measured by the page from the job counters it polls.
 */
export function registerDashboardRoutes(app: FastifyInstance, ctx: AppContext) {
  app.get('/v1/dashboard/models', async (req) => {
    const load = await modelLoad(ctx.db.kysely, req.principal.workspace);
    return {
      object: 'list',
      data: ctx.registry.models.map((m): ModelLoadObject => ({
        id: m.id,
        engine: m.engine,
        backend: backendOf(m),
        endpoints: m.endpoints,
        max_in_flight: m.max_in_flight,
        lines_leased: load.get(m.id)?.inFlight ?? 0,
        waiting: load.get(m.id)?.waiting ?? 0,
        running_jobs: load.get(m.id)?.runningJobs ?? 0,
      })),
    };
  });
}

/** Where a model's work runs, without its credentials: the GGUF file, or the upstream's origin. */
function backendOf(m: ModelEntry): string {
  if (m.engine === 'llama') return `llama.cpp on CPU · ${path.basename(m.path ?? '')}`;
  if (m.engine === 'echo') return 'echo (test engine)';
  const kind = m.engine === 'mistral' ? 'Mistral API' : 'OpenAI-compatible';
  let origin = m.url ?? '';
  try {
    origin = new URL(origin).origin;
  } catch {
    /* keep as configured */
  }
  return `${kind} · ${origin}${m.upstream_model ? ` (${m.upstream_model})` : ''}`;
}
