import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { apiError } from '../errors.js';
import { isTerminal } from '../queue/states.js';
import type { AppContext } from './context.js';
import { jobObject } from './batch-jobs.js';
import { idParams } from './query.js';
import type { ZodTypeProvider } from './zod-provider.js';

/** How often a stream looks at its job: a status or counter change reaches the client within this. */
export const EVENTS_POLL_MS = 500;
/** A comment line now and then keeps proxies and idle-connection timers from closing a quiet stream. */
export const EVENTS_PING_MS = 15_000;

/**
 * GET /v1/batch/jobs/{id}/events: the job as server-sent events. Each event is `event: job`
 * with the same object GET /v1/batch/jobs/{id} answers; one at once, then one on every change,
 * and the stream ends after the event that shows a terminal status. Header-authenticated like
 * every route (browsers read it with fetch(), since EventSource cannot send a header).
 */
export function registerJobEventRoutes(fastify: FastifyInstance, ctx: AppContext, timing = { pollMs: EVENTS_POLL_MS, pingMs: EVENTS_PING_MS }) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  // Open streams end when the server closes: otherwise shutdown would wait for every watcher to leave.
  const open = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of [...open]) end();
    done();
  });

  app.get('/v1/batch/jobs/:job_id/events', { schema: { params: idParams('job_id') } }, async (req, reply) => {
    const { workspace } = req.principal;
    const id = req.params.job_id;
    // Before any byte is written, so an unknown id (or another workspace's) is the same JSON 404 as GET.
    const first = await currentJob(ctx, workspace, id);
    if (!first) throw notFound(id);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx would otherwise buffer the stream and deliver events in bursts.
      'x-accel-buffering': 'no',
    });

    let last = '';
    let ended = false;
    let poll: NodeJS.Timeout | undefined;
    const ping = setInterval(() => write(res, ': ping\n\n'), timing.pingMs);
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(poll);
      clearInterval(ping);
      open.delete(end);
      res.end();
    };
    open.add(end);
    // 'close' comes when the client goes away (or after end()); nothing is left attached to a reused socket.
    res.once('close', end);

    const send = (job: Awaited<ReturnType<typeof jobObject>>) => {
      const data = JSON.stringify(job);
      if (data !== last) write(res, `event: job\ndata: ${data}\n\n`);
      last = data;
      if (isTerminal(job.status)) end();
    };
    const tick = async () => {
      try {
        const job = await currentJob(ctx, workspace, id);
        if (ended) return;
        // Deleted while watched: nothing more will change.
        if (!job) return end();
        send(job);
      } catch (err) {
        // A busy or briefly unreachable store: the next tick tries again; the stream stays open.
        req.log.warn({ err, jobId: id }, 'job events: reading the job failed');
      }
      if (!ended) poll = setTimeout(() => void tick(), timing.pollMs);
    };
    send(first);
    if (!ended) poll = setTimeout(() => void tick(), timing.pollMs);
  });
}

/** The job as GET /v1/batch/jobs/{id} shows it (live counters, the same view function), or undefined. */
async function currentJob(ctx: AppContext, workspace: string, id: string) {
  const row = await ctx.queue.get(workspace, id);
  if (!row) return undefined;
  const [live] = await ctx.queue.withLiveCounters([row]);
  return jobObject(ctx, live!, false);
}

const notFound = (id: string) => apiError('batch_job_not_found', `No batch job with id '${id}' exists in this workspace.`);

function write(res: ServerResponse, chunk: string) {
  if (!res.writableEnded && !res.destroyed) res.write(chunk);
}
