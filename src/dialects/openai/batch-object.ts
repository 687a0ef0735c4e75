import { unixSeconds } from '../../clock.js';
import type { JobRow } from '../../queue/index.js';
import { JobStatus } from '../../queue/states.js';
import type { BatchError } from './validate-input.js';
import { batchIdOf } from './ids.js';
import { openAiEndpointOf } from './request.js';

export type OpenAiBatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

/** A batch refused at validation is born FAILED and never started; a job that ran and failed every line started. */
export const wasRejected = (job: JobRow) => job.status === JobStatus.FAILED && job.started_at === null;

/**
 * A job's status as OpenAI names it. QUEUED (waiting for admission under the workspace's
 * caps) reads as `validating`, where an OpenAI batch waits before it runs. OpenAI's
 * `failed` means the input failed validation; a batch that ran is `completed` even when
 * every request failed (its errors are in the error file), so a job that ran to FAILED
 * reads as `completed`.
 */
export function openAiStatus(job: JobRow): OpenAiBatchStatus {
  switch (job.status) {
    case JobStatus.QUEUED:
      return 'validating';
    case JobStatus.RUNNING:
      return 'in_progress';
    case JobStatus.CANCELLATION_REQUESTED:
      return 'cancelling';
    case JobStatus.CANCELLED:
      return 'cancelled';
    case JobStatus.TIMEOUT_EXCEEDED:
      return 'expired';
    case JobStatus.SUCCESS:
      return 'completed';
    case JobStatus.FAILED:
      return wasRejected(job) ? 'failed' : 'completed';
  }
}

/** The batch's OpenAI endpoint (a Responses batch runs as chat and says so in `api_endpoint`) and its metadata. */
function endpointAndMetadata(job: JobRow) {
  const endpoint = job.api_endpoint ?? openAiEndpointOf(job.endpoint);
  return { endpoint, metadata: job.metadata === null ? null : (JSON.parse(job.metadata) as Record<string, string>) };
}

const seconds = (ms: number | null) => (ms === null ? null : unixSeconds(Number(ms)));

/** OpenAI's Batch object over a job (with live counters); `errors` are a refused batch's validation errors. */
export function batchObject(job: JobRow, errors: BatchError[]) {
  const status = openAiStatus(job);
  const ended = seconds(job.completed_at);
  const succeeded = Number(job.succeeded_requests);
  const failed = Number(job.failed_requests);
  const input = Number(job.prompt_tokens);
  const output = Number(job.completion_tokens);
  const inputFiles = JSON.parse(job.input_files) as string[];
  const { endpoint, metadata } = endpointAndMetadata(job);
  return {
    id: batchIdOf(job.id),
    object: 'batch',
    endpoint,
    model: job.model || null,
    errors: errors.length ? { object: 'list', data: errors.map((e) => ({ code: e.code, message: e.message, param: e.param, line: e.line })) } : null,
    input_file_id: inputFiles[0] ?? null,
    completion_window: '24h',
    status,
    output_file_id: succeeded > 0 ? job.output_file : null,
    error_file_id: failed > 0 ? job.error_file : null,
    created_at: seconds(job.created_at),
    in_progress_at: seconds(job.started_at),
    expires_at: seconds(job.deadline_at),
    finalizing_at: status === 'completed' ? ended : null,
    completed_at: status === 'completed' ? ended : null,
    failed_at: status === 'failed' ? ended : null,
    expired_at: status === 'expired' ? ended : null,
    cancelling_at: seconds(job.cancel_requested_at),
    cancelled_at: status === 'cancelled' ? ended : null,
    request_counts: { total: Number(job.total_requests), completed: succeeded, failed },
    usage: {
      input_tokens: input,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: Number(job.total_tokens),
    },
    metadata,
  };
}
