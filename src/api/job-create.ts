import { apiError } from '../errors.js';
import { ENDPOINTS, type Endpoint } from '../engines/engine.js';
import { InputFileGone, isPriorityName, Priority, PRIORITY_NAMES, type JobRow, type NewJob } from '../queue/index.js';
import { checkOutboundUrl, OutboundUrlError } from '../net/outbound-guard.js';
import type { AppContext } from './context.js';
import { KNOWN_ENDPOINTS, type CreateJobBody } from './batch-jobs.schemas.js';
import { metadataObject } from './job-metadata.js';
import { discardHiddenInput, failedLineInputs, fileInputs, inlineInputs, type JobInputs } from './job-inputs.js';

export function idempotencyKeyOf(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  const key = Array.isArray(header) ? header[0]! : header;
  if (key.length < 1 || key.length > 255) throw apiError('invalid_idempotency_key', 'Idempotency-Key must be 1-255 characters.', { param: 'Idempotency-Key' });
  return key;
}

export async function createJob(ctx: AppContext, workspace: string, keyId: string, body: CreateJobBody, idempotencyKey: string | null): Promise<JobRow> {
  const now = ctx.clock.now();
  const { spec, input } = await prepareJob(ctx, workspace, keyId, body, now);
  return insertNewJob(ctx, spec, input, idempotencyKey, now);
}

/**
 * Every check a create makes, with the job's input ready (an inline job's requests
 * staged as its hidden input file): what createJob inserts, and what an estimate
 * (job-estimate.ts) reads and then discards.
 */
export async function prepareJob(ctx: AppContext, workspace: string, keyId: string, body: CreateJobBody, now: number): Promise<PreparedJob> {
  const endpoint = checkEndpoint(body.endpoint);
  const model = checkModel(ctx, body.model, body.agent_id, endpoint);
  const scheduling = schedulingOf(ctx, workspace, body);
  const hasFiles = (body.input_files?.length ?? 0) > 0;
  const hasRequests = (body.requests?.length ?? 0) > 0;
  if (hasFiles === hasRequests) {
    throw apiError(
      'invalid_input',
      hasFiles
        ? 'Give either input_files or requests, not both.'
        : 'Give the work to do: input_files (ids of files uploaded with purpose "batch") or requests (an inline list of {custom_id, body}).',
      { param: hasFiles ? 'requests' : 'input_files' },
    );
  }
  const input = hasFiles ? await fileInputs(ctx, workspace, body.input_files!) : await inlineInputs(ctx, workspace, body.requests!, now);
  const spec: JobSpec = {
    workspace,
    createdBy: keyId,
    endpoint,
    model,
    agentId: body.agent_id ?? null,
    metadata: body.metadata ?? null,
    timeoutHours: body.timeout_hours,
    inputFiles: hasFiles ? body.input_files! : [],
    ...scheduling,
  };
  return { spec, input };
}

/** A validated job and its input, not yet inserted. */
export interface PreparedJob {
  spec: JobSpec;
  input: JobInputs;
}

/**
 * The job's priority and webhook: the body's fields, else metadata.priority and
 * metadata.webhook_url (the Mistral SDK sends no unknown body field, but any metadata),
 * else normal priority and the workspace's default webhook from the registry file.
 */
export function schedulingOf(
  ctx: AppContext,
  workspace: string,
  body: Pick<CreateJobBody, 'priority' | 'webhook_url' | 'metadata'>,
): { priority: number; webhookUrl: string | null } {
  const named = body.priority ?? body.metadata?.priority;
  if (named !== undefined && named !== null && !isPriorityName(named)) {
    throw apiError('invalid_priority', `metadata.priority is '${String(named).slice(0, 50)}'; use one of ${PRIORITY_NAMES.join(', ')}.`, {
      param: 'metadata.priority',
    });
  }
  const fromBody = body.webhook_url ?? undefined;
  const fromMetadata = body.metadata?.webhook_url;
  const url = fromBody ?? fromMetadata ?? ctx.registry.webhookDefaults?.get(workspace) ?? null;
  if (url !== null) {
    try {
      checkOutboundUrl(url, { allowPrivate: ctx.config.limits.allowPrivateWebhooks });
    } catch (err) {
      if (!(err instanceof OutboundUrlError)) throw err;
      const param = fromBody === undefined && fromMetadata !== undefined ? 'metadata.webhook_url' : 'webhook_url';
      throw apiError('invalid_webhook_url', `${param}: ${err.message}.`, { param });
    }
  }
  return { priority: Priority[named ?? 'normal'], webhookUrl: url };
}

/** A new job over the failed lines of a finished one: same model, endpoint, metadata and timeout. */
export async function createRetryJob(ctx: AppContext, keyId: string, source: JobRow, idempotencyKey: string | null): Promise<JobRow> {
  const endpoint = checkEndpoint(source.endpoint);
  const model = checkModel(ctx, source.model, source.agent_id, endpoint);
  const now = ctx.clock.now();
  const input = await failedLineInputs(ctx, source, now);
  const metadata = source.metadata === null ? null : metadataObject(Object.entries(JSON.parse(source.metadata) as Record<string, string>));
  const spec: JobSpec = {
    workspace: source.workspace,
    createdBy: keyId,
    endpoint,
    model,
    agentId: source.agent_id,
    metadata,
    timeoutHours: source.timeout_hours,
    inputFiles: [],
    priority: Number(source.priority),
    webhookUrl: source.webhook_url,
    // Its lines are the source's lines: read and answered in the source's dialect.
    dialect: source.dialect,
    apiEndpoint: source.api_endpoint,
  };
  return insertNewJob(ctx, spec, input, idempotencyKey, now);
}

/** A validated job, before its input is staged. */
export type JobSpec = Omit<NewJob, 'inputs' | 'total' | 'idempotencyKey'>;

/** Exported for the dialects' create routes (Anthropic's inline batches), which stage their own input. */
export async function insertNewJob(ctx: AppContext, spec: JobSpec, input: JobInputs, idempotencyKey: string | null, now: number): Promise<JobRow> {
  // Inline and retry jobs staged a hidden input file for this job alone: it must not outlive a job that was never created.
  const discard = () => (spec.inputFiles.length === 0 ? discardHiddenInput(ctx, input).catch(() => undefined) : undefined);
  try {
    checkTotal(ctx, spec, input);
    const { job, created } = await ctx.queue.create({ ...spec, inputs: input.inputs, total: input.total, idempotencyKey }, now);
    if (!created) await discard();
    return job;
  } catch (err) {
    await discard();
    if (err instanceof InputFileGone) {
      const i = spec.inputFiles.indexOf(err.message);
      throw apiError('file_not_found', `input_files[${i}]: file '${err.message}' was deleted while the job was being created.`, { param: 'input_files' });
    }
    throw err;
  }
}

/** A job larger than a workspace's whole pending-requests cap could never be admitted. */
export function checkTotal(ctx: AppContext, spec: JobSpec, input: JobInputs): void {
  if (input.total > ctx.config.maxPendingRequests) {
    throw apiError(
      'too_many_requests',
      `The job has ${input.total} requests; a workspace may have at most ${ctx.config.maxPendingRequests} pending requests. Split it into smaller jobs.`,
      { param: spec.inputFiles.length ? 'input_files' : 'requests' },
    );
  }
}

export function checkEndpoint(endpoint: string): Endpoint {
  if ((ENDPOINTS as readonly string[]).includes(endpoint)) return endpoint as Endpoint;
  if (KNOWN_ENDPOINTS.includes(endpoint)) {
    throw apiError('unsupported_endpoint', `endpoint '${endpoint}' is not supported by batchd; use one of ${ENDPOINTS.join(', ')}.`, { param: 'endpoint' });
  }
  throw apiError('invalid_endpoint', `endpoint '${endpoint}' is not a batch endpoint; use one of ${ENDPOINTS.join(', ')}.`, { param: 'endpoint' });
}

export function checkModel(ctx: AppContext, model: string | null | undefined, agentId: string | null | undefined, endpoint: Endpoint): string {
  if (!model) {
    throw apiError(
      'missing_model',
      agentId
        ? 'Agent batches are not supported: give the model to run instead of (or alongside) agent_id.'
        : 'model is required: a batch job runs one model, e.g. "mistral-small-latest" (see GET /v1/models).',
      { param: 'model' },
    );
  }
  const entry = ctx.registry.get(model);
  if (!entry) {
    // 422 here (the catalogue's batch-job-creation variant), not the 404 of a model looked up by name.
    throw apiError('model_not_found', `Unknown model '${model}'. Available: ${ctx.registry.models.map((m) => m.id).join(', ')}.`, {
      param: 'model',
      status: 422,
    });
  }
  if (!entry.endpoints.includes(endpoint)) {
    throw apiError('endpoint_not_supported', `Model '${model}' does not serve ${endpoint}; it serves ${entry.endpoints.join(', ')}.`, { param: 'endpoint' });
  }
  return model;
}
