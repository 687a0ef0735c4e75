import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { apiError } from '../../errors.js';
import type { AppContext } from '../../api/context.js';
import { idempotencyKeyOf, insertNewJob } from '../../api/job-create.js';
import { fileInputs } from '../../api/job-inputs.js';
import { metadataObject, type JobMetadata } from '../../api/job-metadata.js';
import { idParams, intOf, queryField, stringOf } from '../../api/query.js';
import { apiIssue, type ZodTypeProvider } from '../../api/zod-provider.js';
import type { JobRow } from '../../queue/index.js';
import { getOpenAiJob, listOpenAiJobs } from '../../queue/openai-batches.js';
import { createRejectedJob, validationErrors } from '../../queue/reject-job.js';
import { getFile } from '../../store/files.js';
import { batchObject, wasRejected } from './batch-object.js';
import { openAiErrorPayload } from './errors.js';
import { jobIdOf } from './ids.js';
import { ENGINE_ENDPOINTS, OPENAI_ENDPOINTS, openAiEndpointOf, type OpenAiEndpoint } from './request.js';
import { checkOpenAiInput, type BatchError } from './validate-input.js';

/** OpenAI's only completion window; a batch gets 24 hours like a Mistral job's default timeout_hours. */
const COMPLETION_WINDOW = '24h';
const TIMEOUT_HOURS = 24;
/** OpenAI's metadata limits. */
const METADATA = { keys: 16, keyChars: 64, valueChars: 512 };

/** OpenAI's metadata: kept whole (a `__proto__` key is data, see api/job-metadata.ts), its limits checked with a 400 naming the rule. */
const metadataField = z.unknown().transform((raw, ctx): JobMetadata | null => {
  if (raw === undefined || raw === null) return null;
  const bad = (message: string) => apiIssue(ctx, apiError('invalid_metadata', message, { param: 'metadata' }));
  if (typeof raw !== 'object' || Array.isArray(raw)) return bad('metadata must be an object of string keys to string values.');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > METADATA.keys) return bad(`metadata has ${entries.length} keys; at most ${METADATA.keys} are allowed.`);
  for (const [k, v] of entries) {
    if (k.length > METADATA.keyChars) return bad(`metadata key '${k.slice(0, 80)}' is longer than ${METADATA.keyChars} characters.`);
    if (typeof v !== 'string') return bad(`metadata['${k}'] must be a string.`);
    if (v.length > METADATA.valueChars) return bad(`metadata['${k}'] is longer than ${METADATA.valueChars} characters.`);
  }
  return metadataObject(entries as [string, string][]);
});

const createBatchBody = z.preprocess(
  (b) => b ?? {},
  z
    .object({
      input_file_id: z.string({ required_error: 'input_file_id is required: the id of a file uploaded with purpose "batch"' }).min(1),
      endpoint: z.string({ required_error: `endpoint is required, one of ${OPENAI_ENDPOINTS.join(', ')}` }),
      completion_window: z.string({ required_error: 'completion_window is required and must be "24h"' }),
      metadata: metadataField,
      // Accepted for compatibility; results follow batchd's own retention (they live as long as the job).
      output_expires_after: z.object({ anchor: z.literal('created_at'), seconds: z.number().int().min(3600).max(2_592_000) }).nullish(),
    })
    .strict(),
);

const listBatchesQuery = z.object({
  after: queryField(stringOf),
  limit: queryField((v, name) => intOf(v, name, 20, 1, 100)),
});

const batchParams = { params: idParams('batch_id') };

/**
 * OpenAI's Batch API over batchd's jobs: the same store, queue and engines as Mistral's
 * /v1/batch/jobs, seen through OpenAI's ids, objects and errors. This view lists and reads
 * only the jobs created through it; /v1/batch/jobs (the native view) sees them all.
 */
export function registerOpenAiRoutes(app: FastifyInstance, ctx: AppContext) {
  const batches = async (scope: FastifyInstance) => {
    const r = scope.withTypeProvider<ZodTypeProvider>();
    // Every answer of these routes, errors included, in OpenAI's shape (see errors.ts).
    r.addHook('onSend', openAiErrorPayload);

    r.post('/v1/batches', { schema: { body: createBatchBody } }, async (req) => {
      const workspace = req.principal.workspace;
      const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
      if (idempotencyKey) {
        // The OpenAI SDK sends an Idempotency-Key with every POST, the same one on its retries.
        const existing = await ctx.queue.byIdempotencyKey(workspace, idempotencyKey);
        if (existing?.dialect === 'openai') return view(ctx, existing);
      }
      const job = await createBatch(ctx, workspace, req.principal.keyId, req.body, idempotencyKey);
      ctx.nudge();
      return view(ctx, job);
    });

    r.get('/v1/batches', { schema: { querystring: listBatchesQuery } }, async (req) => {
      const { after, limit } = req.query;
      const cursor = after === undefined ? null : await findBatch(ctx, req.principal.workspace, after).catch(() => undefined);
      if (cursor === undefined) throw apiError('invalid_query', `query parameter 'after' names no batch of this workspace: '${after}'`, { param: 'after' });
      const rows = await listOpenAiJobs(ctx.db.kysely, req.principal.workspace, cursor, limit);
      const page = await ctx.queue.withLiveCounters(rows.slice(0, limit));
      const data = await Promise.all(page.map((j) => view(ctx, j)));
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > limit };
    });

    r.get('/v1/batches/:batch_id', { schema: batchParams }, async (req) => view(ctx, await findBatch(ctx, req.principal.workspace, req.params.batch_id)));

    r.post('/v1/batches/:batch_id/cancel', { schema: batchParams }, async (req) => {
      const job = await findBatch(ctx, req.principal.workspace, req.params.batch_id);
      // A finished batch is returned unchanged (a retried cancel never fails); a running one moves to cancelling.
      await ctx.queue.requestCancel(req.principal.workspace, job.id, ctx.clock.now());
      ctx.nudge();
      return view(ctx, await findBatch(ctx, req.principal.workspace, req.params.batch_id));
    });
  };
  void app.register(batches);
}

type CreateBatchBody = z.output<typeof createBatchBody>;

/**
 * Validates the input as OpenAI does before a batch runs. A file whose lines break
 * OpenAI's form is not an HTTP error: the batch is created `failed`, with line-numbered
 * errors. Otherwise it becomes a job like any other, run on the model its lines name.
 */
async function createBatch(ctx: AppContext, workspace: string, keyId: string, body: CreateBatchBody, idempotencyKey: string | null): Promise<JobRow> {
  if (!(OPENAI_ENDPOINTS as string[]).includes(body.endpoint)) {
    throw apiError(
      'batch_endpoint_not_supported',
      `endpoint '${body.endpoint}' is not supported by batchd's OpenAI batches; use one of ${OPENAI_ENDPOINTS.join(', ')}.`,
      { param: 'endpoint' },
    );
  }
  if (body.completion_window !== COMPLETION_WINDOW) {
    throw apiError('invalid_completion_window', `completion_window must be "${COMPLETION_WINDOW}"; got ${JSON.stringify(body.completion_window)}.`, {
      param: 'completion_window',
    });
  }
  const openAiEndpoint = body.endpoint as OpenAiEndpoint;
  const endpoint = ENGINE_ENDPOINTS[openAiEndpoint];
  const now = ctx.clock.now();
  const file = await getFile(ctx.db.kysely, workspace, body.input_file_id, now);
  if (!file) throw apiError('file_not_found', `No file with id '${body.input_file_id}' exists in this workspace.`, { param: 'input_file_id' });
  if (file.purpose !== 'batch' || file.job_id) {
    throw apiError('invalid_input_file', `File '${file.id}' is not a batch input (purpose '${file.purpose}'); upload the input with purpose "batch".`, {
      param: 'input_file_id',
    });
  }
  const checked = await checkOpenAiInput(ctx.blobs.read(file.blob_key), openAiEndpoint);
  const errors: BatchError[] = [...checked.errors];
  const entry = checked.model ? ctx.registry.get(checked.model) : undefined;
  if (checked.model && errors.length === 0 && (!entry || !entry.endpoints.includes(endpoint))) {
    const why = entry ? `does not serve ${openAiEndpoint}` : `is not served here (see GET /v1/models)`;
    errors.push({ line: null, code: 'model_not_supported', message: `The model '${checked.model}' ${why}.`, param: 'body.model' });
  }
  // A Responses batch runs as chat: the job keeps the endpoint it was created for beside the engines' one.
  const apiEndpoint = openAiEndpointOf(endpoint) === openAiEndpoint ? null : openAiEndpoint;
  const spec = {
    workspace,
    createdBy: keyId,
    endpoint,
    apiEndpoint,
    model: checked.model,
    metadata: body.metadata,
    timeoutHours: TIMEOUT_HOURS,
    inputFiles: [file.id],
  };
  if (errors.length) return createRejectedJob(ctx.db.kysely, { ...spec, idempotencyKey, dialect: 'openai', errors }, now);
  const input = await fileInputs(ctx, workspace, [file.id]);
  return insertNewJob(ctx, { ...spec, agentId: null, dialect: 'openai' }, input, idempotencyKey, now);
}

/** A batch of this workspace created through OpenAI's API; 404 otherwise (another workspace's, another dialect's, or no such id). */
async function findBatch(ctx: AppContext, workspace: string, batchId: string): Promise<JobRow> {
  const id = jobIdOf(batchId);
  const job = id === null ? undefined : await getOpenAiJob(ctx.db.kysely, workspace, id);
  if (!job) throw apiError('batch_job_not_found', `No batch with id '${batchId}' exists in this workspace.`, { param: 'batch_id' });
  return (await ctx.queue.withLiveCounters([job]))[0]!;
}

async function view(ctx: AppContext, job: JobRow) {
  const errors = wasRejected(job) ? await validationErrors(ctx.db.kysely, job.id) : [];
  return batchObject(job, errors);
}
