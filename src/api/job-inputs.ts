import { randomUUID } from 'node:crypto';
import { apiError, type HttpErrorCode } from '../errors.js';
import { checkBatchRequest, isProblem } from '../ingest/batch-line.js';
import { stageRequests } from '../ingest/stage-upload.js';
import type { BatchLine } from '../ingest/batch-line.js';
import { countFileChunks, deleteHiddenFile, getFile, insertFile } from '../store/files.js';
import { StorageQuotaExceeded } from '../store/storage-usage.js';
import { quotaErrorAtCommit, storageQuotaFor } from './storage-quota.js';
import type { JobInput, JobRow } from '../queue/index.js';
import type { AppContext } from './context.js';

export interface JobInputs {
  inputs: JobInput[];
  total: number;
}

/** Uploaded batch files of the workspace, in order; their chunk tables become the job's work items. */
export async function fileInputs(ctx: AppContext, workspace: string, ids: string[]): Promise<JobInputs> {
  if (new Set(ids).size !== ids.length) throw apiError('duplicate_input_file', 'input_files lists the same file more than once.', { param: 'input_files' });
  const inputs: JobInput[] = [];
  let total = 0;
  let chunks = 0;
  for (const [i, id] of ids.entries()) {
    const file = await getFile(ctx.db.kysely, workspace, id, ctx.clock.now());
    if (!file) throw apiError('file_not_found', `input_files[${i}]: no file with id '${id}' exists in this workspace.`, { param: 'input_files' });
    // 400, not 422: Mistral keeps 422 for schema validation ({"detail": [...]}) and answers
    // semantic refusals with 400 invalid_request_error. Its exact wording for this case is
    // unpublished, so the message names what the client must fix: the file, its purpose.
    if (file.purpose !== 'batch') {
      throw apiError(
        'invalid_input_file',
        `input_files[${i}]: file '${id}' has purpose '${file.purpose}', not 'batch'; upload the input with purpose "batch".`,
        { param: 'input_files' },
      );
    }
    if (file.job_id) {
      throw apiError(
        'invalid_input_file',
        `input_files[${i}]: file '${id}' is a batch result (sample_type '${file.sample_type}'), not an input; upload the input with purpose "batch".`,
        { param: 'input_files' },
      );
    }
    inputs.push({ fileId: id, blobKey: file.blob_key, lineOffset: total, chunkOffset: chunks });
    total += Number(file.num_lines);
    chunks += await countFileChunks(ctx.db.kysely, id);
  }
  return { inputs, total };
}

/** Inline requests are validated like file lines, then stored as a hidden input file so one runner path serves both. */
export async function inlineInputs(ctx: AppContext, workspace: string, requests: unknown[], now: number): Promise<JobInputs> {
  if (requests.length > ctx.config.maxInlineRequests) {
    throw apiError(
      'too_many_inline_requests',
      `requests has ${requests.length} items; inline batches take at most ${ctx.config.maxInlineRequests}. Upload a file with purpose "batch" instead.`,
      { param: 'requests' },
    );
  }
  const seen = new Map<string, number>();
  const lines = requests.map((r, i) => {
    const checked = checkBatchRequest(r);
    if (isProblem(checked)) throw apiError(checked.code, `requests[${i}] ${checked.message}`, { param: `requests.${i}` });
    if (checked.custom_id !== null) {
      const first = seen.get(checked.custom_id);
      if (first !== undefined)
        throw apiError('duplicate_custom_id', `requests[${i}] repeats custom_id ${JSON.stringify(checked.custom_id)} of requests[${first}].`, {
          param: `requests.${i}.custom_id`,
        });
      seen.set(checked.custom_id, i);
    }
    return checked;
  });
  return hiddenInput(ctx, workspace, lines, now);
}

/**
 * The failed lines of a finished job, as the input of a new one: read from the old
 * job's chunks in order, streamed into a hidden input file, never held whole in memory.
 */
export async function failedLineInputs(ctx: AppContext, job: JobRow, now: number): Promise<JobInputs> {
  const failed = await ctx.queue.failedRequests(job.id, now);
  if (!failed) {
    throw apiError(
      'input_file_deleted',
      `Job ${job.id} cannot be retried: an input file it read was deleted or has expired, so its failed requests are gone. Upload them again and create a new job.`,
    );
  }
  return hiddenInput(ctx, job.workspace, failed, now);
}

/** Stores requests as an input file no client lists, with its chunk table, like an upload. */
async function hiddenInput(ctx: AppContext, workspace: string, requests: Iterable<BatchLine> | AsyncIterable<BatchLine>, now: number): Promise<JobInputs> {
  const staged = await stageRequests(requests, ctx.blobs, { maxLineBytes: Number.MAX_SAFE_INTEGER, chunkLines: ctx.config.chunkLines });
  if (staged.summary.requests === 0) {
    await staged.writer.abort();
    throw apiError('nothing_to_run', 'There are no requests to run.');
  }
  const fileId = randomUUID();
  const quota = storageQuotaFor(ctx, workspace);
  await staged.writer.commit();
  try {
    // A hidden input is stored like an upload, so it counts against (and must fit in) the workspace's quota.
    await insertFile(
      ctx.db.kysely,
      {
        id: fileId,
        workspace,
        filename: 'inline-requests.jsonl',
        bytes: staged.summary.bytes,
        purpose: 'batch',
        sample_type: 'batch_request',
        source: 'inline',
        num_lines: staged.summary.requests,
        mimetype: 'application/jsonl',
        signature: staged.signature,
        expires_at: null,
        visibility: 'workspace',
        created_at: now,
        blob_key: staged.writer.key,
        hidden: 1,
        deleted_at: null,
        job_id: null,
        result_kind: null,
      },
      staged.summary.chunks,
      quota,
    );
  } catch (err) {
    await ctx.blobs.delete(staged.writer.key).catch(() => undefined);
    if (!(err instanceof StorageQuotaExceeded)) throw err;
    const refusal = quotaErrorAtCommit(quota, err, "the job's input");
    // The refusal's own code (storage_quota_exceeded or file_quota_exceeded, at its usual status), without the upload's param.
    throw apiError(refusal.code as HttpErrorCode, refusal.message);
  }
  return { inputs: [{ fileId, blobKey: staged.writer.key, lineOffset: 0, chunkOffset: 0 }], total: staged.summary.requests };
}

/** Removes a hidden input (inline requests, retry lines) whose job was never created: row, chunks and bytes. */
export async function discardHiddenInput(ctx: AppContext, input: JobInputs): Promise<void> {
  for (const { fileId, blobKey } of input.inputs) {
    await deleteHiddenFile(ctx.db.kysely, fileId);
    await ctx.blobs.delete(blobKey);
  }
}
