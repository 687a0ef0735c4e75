import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { apiError } from '../../errors.js';
import type { AppContext } from '../../api/context.js';
import type { BodyLimit } from '../../api/body-limits.js';
import { checkModel, insertNewJob, schedulingOf } from '../../api/job-create.js';
import { inlineInputs } from '../../api/job-inputs.js';
import { signedUrlBase } from '../../api/signed-urls.js';
import type { ZodTypeProvider } from '../../api/zod-provider.js';
import { isTerminal } from '../../queue/states.js';
import type { JobRow } from '../../queue/index.js';
import { getDialectJob } from '../../queue/dialect-jobs.js';
import { allResultsAfter, countFailedByMessage, listAnthropicBatches } from '../../queue/anthropic-batches.js';
import { batchId, batchObject, CANCELLED_MESSAGE, EXPIRED_MESSAGE, jobIdOf } from './batch-object.js';
import { anthropicErrorBodies, requireVersion } from './scope.js';
import { registerMessagesRoute } from './messages-route.js';

const BATCHES = '/v1/messages/batches';
const ENDPOINT = '/v1/chat/completions';
/** Anthropic's rule for custom_id. */
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** Result lines read from the store per query while streaming a batch's results. */
const RESULTS_PAGE = 500;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const createBody = z
  .object({
    requests: z
      .array(
        z
          .object({
            custom_id: z.string().regex(CUSTOM_ID, 'must be 1-64 characters of a-z, A-Z, 0-9, _ and -'),
            // Checked, not rebuilt: the params are stored as the client wrote them.
            params: z.unknown().refine(isObject, 'must be an object: a Messages API request {model, max_tokens, messages, ...}'),
          })
          .strict(),
      )
      .min(1, 'must hold at least one request'),
  })
  .strict();

const listQuery = z
  .object({
    before_id: z.string().optional(),
    after_id: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(20),
  })
  .strict();

const idParams = { params: z.object({ id: z.string() }) };

/**
 * Anthropic's Message Batches API and Messages API over batchd's jobs and engines, in their
 * own plugin scope: requests need `anthropic-version`, and every error leaves in
 * Anthropic's shape. A batch is one job of dialect 'anthropic': this view lists and reads
 * only those (the Mistral view, /v1/batch/jobs, reads every job of the workspace).
 */
export function registerAnthropicRoutes(fastify: FastifyInstance, ctx: AppContext) {
  const { limits } = ctx.config;
  const createLimit: BodyLimit = { bytes: limits.maxCreateBodyBytes, variable: 'BATCHD_MAX_CREATE_BODY_BYTES' };
  const onlineLimit: BodyLimit = { bytes: limits.maxOnlineBodyBytes, variable: 'BATCHD_MAX_ONLINE_BODY_BYTES' };
  // A batch takes as much as Mistral's job create, a message as much as an online call; the rest the general JSON cap.
  const postLimits: Record<string, BodyLimit> = { [BATCHES]: createLimit, '/v1/messages': onlineLimit };
  const limitOf = (req: FastifyRequest): BodyLimit =>
    (req.method === 'POST' ? postLimits[req.routeOptions.url ?? ''] : undefined) ?? { bytes: limits.maxJsonBodyBytes, variable: 'BATCHD_MAX_JSON_BODY_BYTES' };
  void fastify.register(async (scope) => {
    scope.addHook('onRequest', requireVersion);
    scope.addHook('onSend', anthropicErrorBodies(limitOf));
    registerBatchRoutes(scope, ctx, createLimit.bytes);
    registerMessagesRoute(scope, ctx, onlineLimit.bytes);
  });
}

function registerBatchRoutes(fastify: FastifyInstance, ctx: AppContext, createBodyLimit: number) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.post(BATCHES, { bodyLimit: createBodyLimit, schema: { body: createBody } }, async (req) => {
    const { requests } = req.body;
    if (requests.length > ctx.config.maxInlineRequests) {
      throw apiError(
        'too_many_inline_requests',
        `requests has ${requests.length} items; a message batch here takes at most ${ctx.config.maxInlineRequests}. Split the work into several batches.`,
        { param: 'requests' },
      );
    }
    const model = oneModel(requests.map((r) => r.params as Record<string, unknown>));
    checkModel(ctx, model, null, ENDPOINT);
    const now = ctx.clock.now();
    // Each request's params are stored as its line's body; the line format translates them when the line runs.
    const input = await inlineInputs(
      ctx,
      req.principal.workspace,
      requests.map((r) => ({ custom_id: r.custom_id, body: r.params })),
      now,
    );
    const spec = {
      workspace: req.principal.workspace,
      createdBy: req.principal.keyId,
      endpoint: ENDPOINT,
      model,
      agentId: null,
      metadata: null,
      timeoutHours: 24,
      inputFiles: [],
      dialect: 'anthropic' as const,
      // Anthropic's body has no priority or webhook: the workspace's defaults apply, as to a Mistral job that names none.
      ...schedulingOf(ctx, req.principal.workspace, {}),
    };
    const job = await insertNewJob(ctx, spec, input, null, now);
    ctx.nudge();
    return view(ctx, req, job);
  });

  app.get(BATCHES, { schema: { querystring: listQuery } }, async (req) => {
    const q = req.query;
    if (q.before_id !== undefined && q.after_id !== undefined) {
      throw apiError('invalid_query', 'Give before_id or after_id, not both.', { param: 'before_id' });
    }
    const cursor = q.before_id ?? q.after_id;
    const cursorJob = cursor === undefined ? undefined : jobIdOf(cursor);
    const page =
      cursorJob === null
        ? null
        : await listAnthropicBatches(ctx.db.kysely, req.principal.workspace, {
            beforeId: q.before_id === undefined ? undefined : cursorJob,
            afterId: q.after_id === undefined ? undefined : cursorJob,
            limit: q.limit,
          });
    if (!page) {
      throw apiError(
        'invalid_query',
        `${q.before_id !== undefined ? 'before_id' : 'after_id'} '${cursor}' is not the id of a message batch of this workspace.`,
        {
          param: q.before_id !== undefined ? 'before_id' : 'after_id',
        },
      );
    }
    const live = await ctx.queue.withLiveCounters(page.rows);
    const data = await Promise.all(live.map((j) => view(ctx, req, j)));
    return { data, has_more: page.hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  });

  app.get(`${BATCHES}/:id`, { schema: idParams }, async (req) => view(ctx, req, await findBatch(ctx, req.principal.workspace, req.params.id)));

  app.post(`${BATCHES}/:id/cancel`, { schema: idParams }, async (req) => {
    const job = await findBatch(ctx, req.principal.workspace, req.params.id);
    // An ended batch is returned unchanged, so a retried cancel never fails.
    await ctx.queue.requestCancel(req.principal.workspace, job.id, ctx.clock.now());
    ctx.nudge();
    return view(ctx, req, await findBatch(ctx, req.principal.workspace, req.params.id));
  });

  app.delete(`${BATCHES}/:id`, { schema: idParams }, async (req) => {
    const job = await findBatch(ctx, req.principal.workspace, req.params.id);
    if (!isTerminal(job.status)) {
      throw apiError(
        'job_not_finished',
        `Message batch ${req.params.id} is still ${job.status === 'CANCELLATION_REQUESTED' ? 'canceling' : 'in_progress'}; only ended batches can be deleted. Cancel it first.`,
      );
    }
    await ctx.queue.markDeleted(req.principal.workspace, job.id, ctx.clock.now());
    // Its records, work items and hidden input are purged by the scheduler's storage sweep.
    ctx.nudge('storage');
    return { id: batchId(job.id), type: 'message_batch_deleted' };
  });

  // Beyond Anthropic, like Mistral's output file: the lines finished so far can be read before the batch ends.
  app.get(`${BATCHES}/:id/results`, { schema: idParams }, async (req, reply) => {
    const job = await findBatch(ctx, req.principal.workspace, req.params.id);
    reply.type('application/binary');
    return reply.send(resultStream(ctx, job.id));
  });
}

/** The one model of a batch's requests; a batchd job runs one model, so a second one is refused naming its request. */
function oneModel(params: Record<string, unknown>[]): string {
  let first: string | undefined;
  params.forEach((p, i) => {
    const model = p.model;
    if (typeof model !== 'string' || model === '') {
      throw apiError('missing_model', `requests[${i}].params.model: is required: the model to run, e.g. "mistral-small-latest" (see GET /v1/models).`, {
        param: `requests.${i}.params.model`,
      });
    }
    if (first !== undefined && model !== first) {
      throw apiError(
        'anthropic_mixed_models',
        `requests[${i}].params.model is '${model}' but requests[0] names '${first}': a batch runs one model here; send one batch per model.`,
        { param: `requests.${i}.params.model` },
      );
    }
    first = model;
  });
  return first!;
}

/** A batch of this workspace created through this API, with live counters; 404 otherwise (also for another workspace's or dialect's id). */
async function findBatch(ctx: AppContext, workspace: string, id: string): Promise<JobRow> {
  const uuid = jobIdOf(id);
  const job = uuid === null ? undefined : await getDialectJob(ctx.db.kysely, workspace, 'anthropic', uuid);
  if (!job) throw apiError('batch_job_not_found', `No message batch with id '${id}' exists in this workspace.`);
  return (await ctx.queue.withLiveCounters([job]))[0]!;
}

async function view(ctx: AppContext, req: FastifyRequest, job: JobRow) {
  const failed = Number(job.failed_requests);
  const counts = failed > 0 ? await countFailedByMessage(ctx.db.kysely, job.id, [CANCELLED_MESSAGE, EXPIRED_MESSAGE]) : new Map<string, number>();
  const closed = { canceled: counts.get(CANCELLED_MESSAGE) ?? 0, expired: counts.get(EXPIRED_MESSAGE) ?? 0 };
  return batchObject(job, closed, `${urlBase(ctx, req)}${BATCHES}/${batchId(job.id)}/results`);
}

/**
 * Where the client reached us (or --public-url). A Host outside BATCHD_TRUSTED_HOSTS gets a
 * relative URL rather than a link to a host we do not vouch for; the SDK resolves it
 * against its baseURL.
 */
function urlBase(ctx: AppContext, req: FastifyRequest): string {
  try {
    return signedUrlBase(ctx.config.publicUrl, ctx.config.limits.trustedHosts, req.protocol, req.host);
  } catch {
    return '';
  }
}

/** Every result line of the job in input order, read page by page: memory stays bounded whatever the batch's size. */
function resultStream(ctx: AppContext, jobId: string): Readable {
  const db = ctx.db.kysely;
  async function* pages() {
    let after = -1;
    for (;;) {
      const rows = await allResultsAfter(db, jobId, after, RESULTS_PAGE);
      if (rows.length === 0) return;
      yield Buffer.from(rows.map((r) => `${r.line}\n`).join(''), 'utf8');
      after = Number(rows[rows.length - 1]!.line_no);
      if (rows.length < RESULTS_PAGE) return;
    }
  }
  return Readable.from(pages(), { objectMode: false });
}
