import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { apiError } from '../errors.js';
import { unixSeconds } from '../clock.js';
import type { JobRow } from '../queue/index.js';
import { isTerminal, UNFINISHED_PAUSABLE } from '../queue/states.js';
import { priorityName } from '../queue/priority.js';
import { estimateJob } from './job-estimate.js';
import type { AppContext } from './context.js';
import { batchCost } from '../models/registry.js';
import { createJobSchema } from './batch-jobs.schemas.js';
import { listJobsQuery } from './batch-jobs.query.js';
import { createJob, createRetryJob, idempotencyKeyOf } from './job-create.js';
import { boolOf, idParams, rawQueryValue } from './query.js';
import type { ZodTypeProvider } from './zod-provider.js';

const INLINE_OUTPUT_LIMIT = 10_000;

const jobParams = { params: idParams('job_id') };

export function registerBatchJobRoutes(fastify: FastifyInstance, ctx: AppContext) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.post('/v1/batch/jobs', { schema: { body: createJobSchema } }, async (req) => {
    const body = req.body;
    // Beyond Mistral: validate and price the job without creating it (also POST /v1/batch/jobs/estimate, for SDKs that drop dry_run).
    if (body.dry_run) return estimateJob(ctx, req.principal.workspace, req.principal.keyId, body);
    const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
    if (idempotencyKey) {
      const existing = await ctx.queue.byIdempotencyKey(req.principal.workspace, idempotencyKey);
      if (existing) return jobObject(ctx, existing, false);
    }
    const job = await createJob(ctx, req.principal.workspace, req.principal.keyId, body, idempotencyKey);
    ctx.nudge();
    return jobObject(ctx, job, false);
  });

  app.post('/v1/batch/jobs/estimate', { schema: { body: createJobSchema } }, async (req) =>
    estimateJob(ctx, req.principal.workspace, req.principal.keyId, req.body),
  );

  app.get('/v1/batch/jobs', { schema: { querystring: listJobsQuery } }, async (req) => {
    const q = req.query;
    const { rows, total } = await ctx.queue.list(req.principal.workspace, {
      page: q.page,
      pageSize: q.page_size,
      statuses: q.status,
      model: q.model,
      agentId: q.agent_id,
      createdAfter: q.created_after,
      createdBy: q.created_by_me ? req.principal.keyId : undefined,
      ascending: q.order_by,
      metadata: q.metadata,
    });
    const live = await ctx.queue.withLiveCounters(rows);
    const data = await Promise.all(live.map((r) => jobObject(ctx, r, false)));
    return { data, object: 'list', total };
  });

  app.get('/v1/batch/jobs/:job_id', { schema: { ...jobParams, querystring: z.object({ inline: rawQueryValue }) } }, async (req) => {
    const job = await findJob(ctx, req.principal.workspace, req.params.job_id);
    // Read after the lookup, not by the schema: an unknown job is a 404 whatever its query says.
    const inline = boolOf(req.query.inline, 'inline', false);
    return jobObject(ctx, job, inline);
  });

  app.post('/v1/batch/jobs/:job_id/cancel', { schema: jobParams }, async (req) => {
    const id = req.params.job_id;
    await findJob(ctx, req.principal.workspace, id);
    // Cancelling a finished job is a no-op that returns it unchanged, so a retried cancel never fails.
    await ctx.queue.requestCancel(req.principal.workspace, id, ctx.clock.now());
    ctx.nudge();
    return jobObject(ctx, await findJob(ctx, req.principal.workspace, id), false);
  });

  // Beyond Mistral: stop claiming a job's lines (in-flight ones finish; the deadline keeps running), and go on again.
  app.post('/v1/batch/jobs/:job_id/pause', { schema: jobParams }, async (req) => {
    const job = await findJob(ctx, req.principal.workspace, req.params.job_id);
    if (!(UNFINISHED_PAUSABLE as readonly string[]).includes(job.status)) {
      throw apiError('job_already_finished', `Job ${job.id} is ${job.status}; only a QUEUED or RUNNING job can be paused.`);
    }
    // Pausing a paused job is a no-op that returns it, so a retried pause never fails.
    await ctx.queue.pause(req.principal.workspace, job.id, ctx.clock.now());
    ctx.nudge();
    return jobObject(ctx, await findJob(ctx, req.principal.workspace, job.id), false);
  });

  app.post('/v1/batch/jobs/:job_id/resume', { schema: jobParams }, async (req) => {
    const job = await findJob(ctx, req.principal.workspace, req.params.job_id);
    if (!(UNFINISHED_PAUSABLE as readonly string[]).includes(job.status)) {
      throw apiError('job_already_finished', `Job ${job.id} is ${job.status}; only a QUEUED or RUNNING job can be resumed.`);
    }
    await ctx.queue.resume(req.principal.workspace, job.id);
    ctx.nudge();
    return jobObject(ctx, await findJob(ctx, req.principal.workspace, job.id), false);
  });

  // Beyond Mistral: run a finished job's failed lines again, as a new job.
  app.post('/v1/batch/jobs/:job_id/retry', { schema: jobParams }, async (req) => {
    const source = await findJob(ctx, req.principal.workspace, req.params.job_id);
    if (!isTerminal(source.status)) {
      throw apiError('job_not_finished', `Job ${source.id} is ${source.status}; failed lines can be retried once it has finished.`);
    }
    if (Number(source.failed_requests) === 0) throw apiError('nothing_to_retry', `Job ${source.id} has no failed requests.`);
    const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
    const existing = idempotencyKey ? await ctx.queue.byIdempotencyKey(req.principal.workspace, idempotencyKey) : undefined;
    const job = existing ?? (await createRetryJob(ctx, req.principal.keyId, source, idempotencyKey));
    ctx.nudge();
    return jobObject(ctx, job, false);
  });

  app.delete('/v1/batch/jobs/:job_id', { schema: jobParams }, async (req) => {
    const id = req.params.job_id;
    const job = await findJob(ctx, req.principal.workspace, id);
    if (!isTerminal(job.status)) {
      throw apiError('job_not_finished', `Job ${id} is ${job.status}; cancel it and wait for CANCELLED before deleting it.`);
    }
    await ctx.queue.markDeleted(req.principal.workspace, id, ctx.clock.now());
    // Its records, work items and hidden inputs are purged by the scheduler's storage sweep.
    ctx.nudge('storage');
    return { id, object: 'batch', deleted: true };
  });
}

/** The job with its live counters, or 404 (also for another workspace's id). */
async function findJob(ctx: AppContext, workspace: string, id: string): Promise<JobRow> {
  const job = await ctx.queue.get(workspace, id);
  if (!job) throw apiError('batch_job_not_found', `No batch job with id '${id}' exists in this workspace.`);
  return (await ctx.queue.withLiveCounters([job]))[0]!;
}

/** What rendering a job object needs: the API's context, or the webhook deliverer's part of it. */
export type JobView = Pick<AppContext, 'results' | 'registry' | 'clock'>;

/**
 * The BatchJob object; `outputs` for inline jobs once finished, and for any job with
 * ?inline=true. Mistral's fields, then batchd's own (scheduleOf): the Mistral SDKs'
 * response parsers drop fields they do not know.
 */
export async function jobObject(ctx: JobView, job: JobRow, inline: boolean) {
  const finished = isTerminal(job.status);
  const wantOutputs = inline || (job.inline === 1 && finished);
  if (wantOutputs && inline && Number(job.total_requests) > INLINE_OUTPUT_LIMIT) {
    throw apiError(
      'too_many_outputs_for_inline',
      `Job has ${job.total_requests} requests; inline results are limited to ${INLINE_OUTPUT_LIMIT}. Download output_file instead.`,
      { param: 'inline' },
    );
  }
  const failed = Number(job.failed_requests);
  return {
    id: job.id,
    object: 'batch',
    input_files: JSON.parse(job.input_files) as string[],
    metadata: job.metadata === null ? null : (JSON.parse(job.metadata) as Record<string, string>),
    endpoint: job.endpoint,
    model: job.model,
    agent_id: job.agent_id,
    output_file: job.output_file,
    error_file: failed > 0 ? job.error_file : null,
    errors: failed > 0 ? await ctx.results.errorGroups(job.id) : [],
    outputs: wantOutputs ? await ctx.results.outputs(job.id, INLINE_OUTPUT_LIMIT) : null,
    status: job.status,
    created_at: unixSeconds(job.created_at),
    total_requests: Number(job.total_requests),
    completed_requests: Number(job.completed_requests),
    succeeded_requests: Number(job.succeeded_requests),
    failed_requests: failed,
    started_at: job.started_at === null ? null : unixSeconds(job.started_at),
    completed_at: job.completed_at === null ? null : unixSeconds(job.completed_at),
    timeout_hours: job.timeout_hours,
    usage: usageOf(ctx, job),
    ...scheduleOf(job, finished, ctx.clock.now()),
  };
}

/**
 * Scheduling and control (issue 16). Pausing is a flag, not a status: the status stays
 * one of Mistral's seven (mistral 1.x's SDK parses it as a closed enum). `at_risk`: at
 * the job's rate so far (lines done since it started), its remaining lines would end
 * after its deadline; `estimated_completion_at` is that projection (null before the
 * first line is done, and once the job has ended).
 */
function scheduleOf(job: JobRow, finished: boolean, now: number) {
  const deadline = Number(job.deadline_at);
  const total = Number(job.total_requests);
  const done = Number(job.completed_requests);
  let eta: number | null = null;
  if (!finished && job.started_at !== null && done > 0) {
    const msPerLine = Math.max(1, now - Number(job.started_at)) / done;
    eta = now + Math.max(0, total - done) * msPerLine;
  }
  return {
    priority: priorityName(job.priority),
    deadline_at: unixSeconds(deadline),
    paused: !finished && job.paused_at !== null,
    paused_at: !finished && job.paused_at !== null ? unixSeconds(Number(job.paused_at)) : null,
    at_risk: eta !== null && eta > deadline,
    estimated_completion_at: eta === null ? null : unixSeconds(eta),
    webhook_url: job.webhook_url,
  };
}

/** Token usage so far and its cost at the model's price less the batch discount. */
function usageOf(ctx: JobView, job: JobRow) {
  const prompt = Number(job.prompt_tokens);
  const completion = Number(job.completion_tokens);
  const cost = batchCost(ctx.registry, job.model, prompt, completion);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: Number(job.total_tokens),
    cost_usd: cost === null ? null : Math.round(cost * 1e6) / 1e6,
  };
}
