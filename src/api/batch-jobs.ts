import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest, conflict, notFound, unprocessable } from '../errors.js';
import { unixSeconds } from '../clock.js';
import { ENDPOINTS, type Endpoint } from '../engines/engine.js';
import { checkBatchRequest, isProblem } from '../ingest/batch-line.js';
import { stageBytes } from '../ingest/stage-upload.js';
import { getFile, insertFile } from '../store/files.js';
import { getJob, getJobByIdempotencyKey, insertJob, isTerminal, JOB_STATUSES, listJobs, markJobDeleted, requestCancel, type JobInput, type JobRow } from '../store/jobs.js';
import type { AppContext } from './context.js';
import { batchCost } from '../models/registry.js';
import { withLiveCounters } from '../store/job-progress.js';
import { createJobSchema, KNOWN_ENDPOINTS, type CreateJobBody } from './batch-jobs.schemas.js';
import { queryBool, queryList, queryPaging, queryString, type Query } from './query.js';

/** Query keys the list route understands; any other key is a metadata filter (the SDK explodes metadata). */
const LIST_KEYS = new Set(['page', 'page_size', 'model', 'agent_id', 'metadata', 'created_after', 'created_by_me', 'status', 'order_by']);
const INLINE_OUTPUT_LIMIT = 10_000;

export function registerBatchJobRoutes(app: FastifyInstance, ctx: AppContext) {
  app.post('/v1/batch/jobs', async (req) => {
    const body = createJobSchema.parse(req.body ?? {});
    const idempotencyKey = idempotencyKeyOf(req.headers['idempotency-key']);
    if (idempotencyKey) {
      const existing = await getJobByIdempotencyKey(ctx.db.kysely, req.principal.workspace, idempotencyKey);
      if (existing) return jobObject(ctx, existing, false);
    }
    const job = await createJob(ctx, req.principal.workspace, req.principal.keyId, body, idempotencyKey);
    ctx.nudge();
    return jobObject(ctx, job, false);
  });

  app.get('/v1/batch/jobs', async (req) => {
    const q = req.query as Query;
    const { rows, total } = await listJobs(ctx.db.kysely, req.principal.workspace, {
      ...queryPaging(q),
      statuses: parseStatuses(q),
      model: queryString(q, 'model'),
      agentId: queryString(q, 'agent_id'),
      createdAfter: parseCreatedAfter(queryString(q, 'created_after')),
      createdBy: queryBool(q, 'created_by_me', false) ? req.principal.keyId : undefined,
      ascending: parseOrder(queryString(q, 'order_by')),
      metadata: parseMetadataFilter(q),
    });
    const live = await withLiveCounters(ctx.db.kysely, rows);
    const data = await Promise.all(live.map((r) => jobObject(ctx, r, false)));
    return { data, object: 'list', total };
  });

  app.get('/v1/batch/jobs/:job_id', async (req) => {
    const job = await findJob(ctx, req.principal.workspace, (req.params as { job_id: string }).job_id);
    const inline = queryBool(req.query as Query, 'inline', false);
    return jobObject(ctx, job, inline);
  });

  app.post('/v1/batch/jobs/:job_id/cancel', async (req) => {
    const id = (req.params as { job_id: string }).job_id;
    await findJob(ctx, req.principal.workspace, id);
    // Cancelling a finished job is a no-op that returns it unchanged, so a retried cancel never fails.
    await requestCancel(ctx.db.kysely, req.principal.workspace, id, ctx.clock.now());
    ctx.nudge();
    return jobObject(ctx, await findJob(ctx, req.principal.workspace, id), false);
  });

  app.delete('/v1/batch/jobs/:job_id', async (req) => {
    const id = (req.params as { job_id: string }).job_id;
    const job = await findJob(ctx, req.principal.workspace, id);
    if (!isTerminal(job.status)) {
      throw conflict('job_not_finished', `Job ${id} is ${job.status}; cancel it and wait for CANCELLED before deleting it.`);
    }
    await markJobDeleted(ctx.db.kysely, req.principal.workspace, id, ctx.clock.now());
    return { id, object: 'batch', deleted: true };
  });
}

/** The job with its live counters, or 404 (also for another workspace's id). */
async function findJob(ctx: AppContext, workspace: string, id: string): Promise<JobRow> {
  const job = await getJob(ctx.db.kysely, workspace, id);
  if (!job) throw notFound('batch_job', id);
  return (await withLiveCounters(ctx.db.kysely, [job]))[0]!;
}

/** The BatchJob object; `outputs` for inline jobs once finished, and for any job with ?inline=true. */
export async function jobObject(ctx: AppContext, job: JobRow, inline: boolean) {
  const finished = isTerminal(job.status);
  const wantOutputs = inline || (job.inline === 1 && finished);
  if (wantOutputs && inline && Number(job.total_requests) > INLINE_OUTPUT_LIMIT) {
    throw badRequest('too_many_outputs_for_inline', `Job has ${job.total_requests} requests; inline results are limited to ${INLINE_OUTPUT_LIMIT}. Download output_file instead.`, 'inline');
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
  };
}

/** Token usage so far and its cost at the model's price less the batch discount. */
function usageOf(ctx: AppContext, job: JobRow) {
  const prompt = Number(job.prompt_tokens);
  const completion = Number(job.completion_tokens);
  const cost = batchCost(ctx.registry, job.model, prompt, completion);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: Number(job.total_tokens), cost_usd: cost === null ? null : Math.round(cost * 1e6) / 1e6 };
}

function idempotencyKeyOf(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  const key = Array.isArray(header) ? header[0]! : header;
  if (key.length < 1 || key.length > 255) throw badRequest('invalid_idempotency_key', 'Idempotency-Key must be 1-255 characters.', 'Idempotency-Key');
  return key;
}

async function createJob(ctx: AppContext, workspace: string, keyId: string, body: CreateJobBody, idempotencyKey: string | null): Promise<JobRow> {
  const endpoint = checkEndpoint(body.endpoint);
  const model = checkModel(ctx, body.model, body.agent_id, endpoint);
  const hasFiles = (body.input_files?.length ?? 0) > 0;
  const hasRequests = (body.requests?.length ?? 0) > 0;
  if (hasFiles === hasRequests) {
    throw unprocessable('invalid_input', hasFiles
      ? 'Give either input_files or requests, not both.'
      : 'Give the work to do: input_files (ids of files uploaded with purpose "batch") or requests (an inline list of {custom_id, body}).', hasFiles ? 'requests' : 'input_files');
  }
  const now = ctx.clock.now();
  const { inputs, total } = hasFiles
    ? await fileInputs(ctx, workspace, body.input_files!)
    : await inlineInputs(ctx, workspace, body.requests!, now);
  if (total > ctx.config.maxPendingRequests) {
    throw unprocessable('too_many_requests', `The job has ${total} requests; a workspace may have at most ${ctx.config.maxPendingRequests} pending requests. Split it into smaller jobs.`, hasFiles ? 'input_files' : 'requests');
  }
  const row: JobRow = {
    id: randomUUID(),
    workspace,
    created_by: keyId,
    endpoint,
    model,
    agent_id: body.agent_id ?? null,
    metadata: body.metadata ? JSON.stringify(body.metadata) : null,
    timeout_hours: body.timeout_hours,
    status: 'QUEUED',
    input_files: JSON.stringify(hasFiles ? body.input_files : []),
    inline: hasFiles ? 0 : 1,
    output_file: null,
    error_file: null,
    created_at: now,
    started_at: null,
    completed_at: null,
    deadline_at: now + body.timeout_hours * 3600_000,
    cancel_requested_at: null,
    total_requests: total,
    completed_requests: 0,
    succeeded_requests: 0,
    failed_requests: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    deleted_at: null,
    idempotency_key: idempotencyKey,
  };
  try {
    await insertJob(ctx.db.kysely, row, inputs, body.metadata ?? null);
  } catch (err) {
    // Two concurrent creates with one Idempotency-Key: the unique index lets one win; return it.
    const winner = idempotencyKey ? await getJobByIdempotencyKey(ctx.db.kysely, workspace, idempotencyKey) : undefined;
    if (winner) return winner;
    throw err;
  }
  return row;
}

function checkEndpoint(endpoint: string): Endpoint {
  if ((ENDPOINTS as readonly string[]).includes(endpoint)) return endpoint as Endpoint;
  if (KNOWN_ENDPOINTS.includes(endpoint)) {
    throw unprocessable('unsupported_endpoint', `endpoint '${endpoint}' is not supported by batchd; use one of ${ENDPOINTS.join(', ')}.`, 'endpoint');
  }
  throw unprocessable('invalid_endpoint', `endpoint '${endpoint}' is not a batch endpoint; use one of ${ENDPOINTS.join(', ')}.`, 'endpoint');
}

function checkModel(ctx: AppContext, model: string | null | undefined, agentId: string | null | undefined, endpoint: Endpoint): string {
  if (!model) {
    throw unprocessable('missing_model', agentId
      ? 'Agent batches are not supported: give the model to run instead of (or alongside) agent_id.'
      : 'model is required: a batch job runs one model, e.g. "mistral-small-latest" (see GET /v1/models).', 'model');
  }
  const entry = ctx.registry.get(model);
  if (!entry) {
    throw unprocessable('model_not_found', `Unknown model '${model}'. Available: ${ctx.registry.models.map((m) => m.id).join(', ')}.`, 'model');
  }
  if (!entry.endpoints.includes(endpoint)) {
    throw unprocessable('endpoint_not_supported', `Model '${model}' does not serve ${endpoint}; it serves ${entry.endpoints.join(', ')}.`, 'endpoint');
  }
  return model;
}

async function fileInputs(ctx: AppContext, workspace: string, ids: string[]) {
  if (new Set(ids).size !== ids.length) throw unprocessable('duplicate_input_file', 'input_files lists the same file more than once.', 'input_files');
  const inputs: JobInput[] = [];
  let total = 0;
  let chunks = 0;
  for (const [i, id] of ids.entries()) {
    const file = await getFile(ctx.db.kysely, workspace, id, ctx.clock.now());
    if (!file) throw new ApiError(404, 'not_found_error', 'file_not_found', `input_files[${i}]: no file with id '${id}' exists in this workspace.`, 'input_files');
    if (file.purpose !== 'batch' || file.job_id) {
      throw unprocessable('invalid_input_file', `input_files[${i}]: file '${id}' has purpose '${file.purpose}'${file.job_id ? ' and is a batch result' : ''}; upload the input with purpose "batch".`, 'input_files');
    }
    const counted = await ctx.db.kysely
      .selectFrom('file_chunks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('file_id', '=', id)
      .executeTakeFirstOrThrow();
    inputs.push({ fileId: id, blobKey: file.blob_key, lineOffset: total, chunkOffset: chunks });
    total += Number(file.num_lines);
    chunks += Number(counted.n);
  }
  return { inputs, total };
}

/** Inline requests are validated like file lines, then stored as a hidden input file so one runner path serves both. */
async function inlineInputs(ctx: AppContext, workspace: string, requests: unknown[], now: number) {
  if (requests.length > ctx.config.maxInlineRequests) {
    throw unprocessable('too_many_inline_requests', `requests has ${requests.length} items; inline batches take at most ${ctx.config.maxInlineRequests}. Upload a file with purpose "batch" instead.`, 'requests');
  }
  const seen = new Map<string, number>();
  const lines = requests.map((r, i) => {
    const checked = checkBatchRequest(r);
    if (isProblem(checked)) throw unprocessable(checked.code, `requests[${i}] ${checked.message}`, `requests.${i}`);
    if (checked.custom_id !== null) {
      const first = seen.get(checked.custom_id);
      if (first !== undefined) throw unprocessable('duplicate_custom_id', `requests[${i}] repeats custom_id ${JSON.stringify(checked.custom_id)} of requests[${first}].`, `requests.${i}.custom_id`);
      seen.set(checked.custom_id, i);
    }
    return JSON.stringify(checked.custom_id === null ? { body: checked.body } : { custom_id: checked.custom_id, body: checked.body });
  });
  const staged = await stageBytes(lines, ctx.blobs, { maxLineBytes: Number.MAX_SAFE_INTEGER, chunkLines: ctx.config.chunkLines });
  const fileId = randomUUID();
  await staged.writer.commit();
  await insertFile(ctx.db.kysely, {
    id: fileId, workspace, filename: 'inline-requests.jsonl', bytes: staged.summary.bytes, purpose: 'batch', sample_type: 'batch_request',
    source: 'inline', num_lines: staged.summary.requests, mimetype: 'application/jsonl', signature: staged.signature, expires_at: null,
    visibility: 'workspace', created_at: now, blob_key: staged.writer.key, hidden: 1, deleted_at: null, job_id: null, result_kind: null,
  }, staged.summary.chunks);
  return { inputs: [{ fileId, blobKey: staged.writer.key, lineOffset: 0, chunkOffset: 0 }], total: staged.summary.requests };
}

function parseStatuses(q: Query): string[] | undefined {
  const statuses = queryList(q, 'status');
  for (const s of statuses ?? []) {
    if (!(JOB_STATUSES as readonly string[]).includes(s)) throw badRequest('invalid_query', `status '${s}' is not one of ${JOB_STATUSES.join(', ')}.`, 'status');
  }
  return statuses;
}

function parseCreatedAfter(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  // Python's isoformat() may send a naive time; read it as UTC like Mistral's server.
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw badRequest('invalid_query', `created_after must be an ISO-8601 date-time like 2025-01-02T03:04:05Z, got '${v}'.`, 'created_after');
  return t;
}

function parseOrder(v: string | undefined): boolean {
  if (v === undefined || v === '-created') return false;
  if (v === 'created') return true;
  throw badRequest('invalid_query', `order_by must be 'created' or '-created', got '${v}'.`, 'order_by');
}

/** Metadata filters: `metadata=<json object>` and/or every query key the route does not otherwise know. */
function parseMetadataFilter(q: Query): Record<string, string> {
  const filter: Record<string, string> = {};
  const json = queryString(q, 'metadata');
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw badRequest('invalid_query', 'metadata must be a JSON object of string values, e.g. metadata={"job_type":"test"}.', 'metadata');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw badRequest('invalid_query', 'metadata must be a JSON object of string values.', 'metadata');
    }
    for (const [k, v] of Object.entries(parsed)) filter[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  for (const [k, v] of Object.entries(q)) {
    if (LIST_KEYS.has(k) || v === undefined) continue;
    if (Array.isArray(v)) throw badRequest('invalid_query', `metadata filter '${k}' was given ${v.length} times; give it once.`, k);
    filter[k] = v;
  }
  return filter;
}
