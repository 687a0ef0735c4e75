import type { JobObject } from './api-types.js';
import type { BatchdClient } from './client.js';
import { followJob } from './follow-job.js';
import { duration } from './format.js';
import { jobProgress } from './progress.js';

/**
 * Exit codes of the commands that wait for a job (`submit --wait`, `jobs watch`):
 *   0  the job ended SUCCESS and no line failed
 *   1  the command itself failed (bad arguments, unreachable server, refused key, unknown id, invalid file, download error)
 *   2  the job ended SUCCESS but some lines failed (they are in the error file)
 *   3  the job ended FAILED, TIMEOUT_EXCEEDED or CANCELLED
 *   130 interrupted (Ctrl-C) while waiting: the job itself keeps running
 */
export const EXIT = { ok: 0, error: 1, linesFailed: 2, jobNotSuccessful: 3, interrupted: 130 } as const;

export function exitCodeOf(job: JobObject): number {
  if (job.status !== 'SUCCESS') return EXIT.jobNotSuccessful;
  return job.failed_requests > 0 ? EXIT.linesFailed : EXIT.ok;
}

/** "Job 1b2c… SUCCESS in 4s: 10 of 10 succeeded, 0 failed". */
export function outcomeLine(job: JobObject): string {
  const took = job.completed_at !== null ? ` in ${duration(job.completed_at - (job.started_at ?? job.created_at))}` : '';
  return `Job ${job.id} ${job.status}${took}: ${job.succeeded_requests} of ${job.total_requests} succeeded, ${job.failed_requests} failed`;
}

/** Follows a job to its end with the live progress (bar or lines) and returns its final state. */
export async function followWithProgress(client: BatchdClient, id: string): Promise<JobObject> {
  const progress = jobProgress();
  const removeInterrupt = onInterrupt(id, () => progress.stop());
  try {
    return await followJob(client, id, (j) => progress.update(j));
  } finally {
    progress.stop();
    removeInterrupt();
  }
}

/**
 * Stops following (not the job) on Ctrl-C, so the bar is cleaned up and the user is told
 * how to pick the job up again; returns a function that removes the handler.
 */
function onInterrupt(jobId: string, stopProgress: () => void): () => void {
  const handler = () => {
    stopProgress();
    process.stderr.write(`batchd: stopped following job ${jobId}; it keeps running (batchd jobs watch ${jobId}, batchd jobs cancel ${jobId})\n`);
    process.exit(EXIT.interrupted);
  };
  process.once('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}
