import { cancelledOutcome, expiredOutcome } from '../../results/render.js';
import { isTerminal, JobStatus } from '../../queue/states.js';
import type { JobRow } from '../../queue/index.js';

/** The messages the scheduler's close writes on a cancelled or expired line: how their records are told from other failures. */
export const CANCELLED_MESSAGE = cancelledOutcome(0, null).error!.message;
export const EXPIRED_MESSAGE = expiredOutcome(0, null).error!.message;

/** A job's UUID as Anthropic shows it (`msgbatch_` and its 32 hex digits), and back; null for anything else. */
export const batchId = (uuid: string) => `msgbatch_${uuid.replace(/-/g, '')}`;
export function jobIdOf(id: string): string | null {
  const hex = /^msgbatch_([0-9a-f]{32})$/.exec(id)?.[1];
  return hex ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : null;
}

export type ProcessingStatus = 'in_progress' | 'canceling' | 'ended';

/** Mistral's statuses in Anthropic's three: a queued job is already in progress, every final status has ended. */
export function processingStatus(status: string): ProcessingStatus {
  if (isTerminal(status)) return 'ended';
  return status === JobStatus.CANCELLATION_REQUESTED ? 'canceling' : 'in_progress';
}

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

/**
 * Anthropic's MessageBatch over a job row (with live counters). `closed`: its failed lines
 * the close recorded as cancelled or expired, the rest of its failures being errors.
 * `resultsUrl` is set once processing has ended, as Anthropic does.
 */
export function batchObject(job: JobRow, closed: { canceled: number; expired: number }, resultsUrl: string) {
  const status = processingStatus(job.status);
  const succeeded = Number(job.succeeded_requests);
  const failed = Number(job.failed_requests);
  return {
    id: batchId(job.id),
    type: 'message_batch',
    processing_status: status,
    request_counts: {
      processing: Math.max(0, Number(job.total_requests) - succeeded - failed),
      succeeded,
      errored: failed - closed.canceled - closed.expired,
      canceled: closed.canceled,
      expired: closed.expired,
    },
    ended_at: iso(job.completed_at),
    created_at: iso(job.created_at)!,
    expires_at: iso(job.deadline_at)!,
    archived_at: null,
    cancel_initiated_at: iso(job.cancel_requested_at),
    results_url: status === 'ended' ? resultsUrl : null,
  };
}
