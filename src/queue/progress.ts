import { sql } from 'kysely';
import { isTerminal } from './states.js';
import type { JobRow, Q } from './types.js';
import type { FileRow } from '../store/files.js';
import { chargeResultFiles } from '../store/storage-usage.js';

export interface Progress {
  succeeded: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  okBytes: number;
  errBytes: number;
}

/** Live progress of unfinished jobs: the sums of their chunks' counters. */
export async function liveProgress(db: Q, jobIds: string[]): Promise<Map<string, Progress>> {
  const map = new Map<string, Progress>();
  if (jobIds.length === 0) return map;
  const rows = await db
    .selectFrom('job_chunks')
    .select([
      'job_id',
      sql<number>`sum(succeeded)`.as('succeeded'),
      sql<number>`sum(failed)`.as('failed'),
      sql<number>`sum(prompt_tokens)`.as('prompt'),
      sql<number>`sum(completion_tokens)`.as('completion'),
      sql<number>`sum(ok_bytes)`.as('ok_bytes'),
      sql<number>`sum(err_bytes)`.as('err_bytes'),
    ])
    .where('job_id', 'in', jobIds)
    .groupBy('job_id')
    .execute();
  for (const r of rows) {
    map.set(r.job_id, {
      succeeded: Number(r.succeeded),
      failed: Number(r.failed),
      promptTokens: Number(r.prompt),
      completionTokens: Number(r.completion),
      okBytes: Number(r.ok_bytes),
      errBytes: Number(r.err_bytes),
    });
  }
  return map;
}

/** A job row's counter columns from chunk progress. */
function counterColumns(p: Progress) {
  return {
    completed_requests: p.succeeded + p.failed,
    succeeded_requests: p.succeeded,
    failed_requests: p.failed,
    prompt_tokens: p.promptTokens,
    completion_tokens: p.completionTokens,
    total_tokens: p.promptTokens + p.completionTokens,
  };
}

/** Job rows with live counters for those still running (finished jobs carry their folded totals). */
export async function withLiveCounters(db: Q, jobs: JobRow[]): Promise<JobRow[]> {
  const live = await liveProgress(
    db,
    jobs.filter((j) => !isTerminal(j.status)).map((j) => j.id),
  );
  return jobs.map((j) => {
    const p = live.get(j.id);
    return p ? { ...j, ...counterColumns(p) } : j;
  });
}

/** Result-file rows with live sizes while their job runs. */
export async function withLiveSizes(db: Q, files: FileRow[]): Promise<FileRow[]> {
  const jobIds = [...new Set(files.filter((f) => f.job_id && f.num_lines === null).map((f) => f.job_id!))];
  const live = await liveProgress(db, jobIds);
  return files.map((f) => {
    const p = f.job_id ? live.get(f.job_id) : undefined;
    if (!p || f.num_lines !== null) return f;
    const output = f.result_kind === 'output';
    return { ...f, bytes: output ? p.okBytes : p.errBytes, num_lines: output ? p.succeeded : p.failed };
  });
}

/**
 * Writes a finishing job's final counters into its row and its result files, in the
 * transaction that sets its final status, so a finished job reads in O(1). An error file
 * with no line is removed, as Mistral gives such a job no error_file.
 */
export async function foldProgress(tx: Q, jobId: string, now: number): Promise<Progress> {
  const p = (await liveProgress(tx, [jobId])).get(jobId) ?? { succeeded: 0, failed: 0, promptTokens: 0, completionTokens: 0, okBytes: 0, errBytes: 0 };
  const job = await tx
    .updateTable('batch_jobs')
    .set(counterColumns(p))
    .where('id', '=', jobId)
    .returning(['workspace', 'output_file', 'error_file'])
    .executeTakeFirstOrThrow();
  if (job.output_file) await tx.updateTable('files').set({ bytes: p.okBytes, num_lines: p.succeeded }).where('id', '=', job.output_file).execute();
  if (job.error_file) {
    await tx
      .updateTable('files')
      .set({ bytes: p.errBytes, num_lines: p.failed, deleted_at: p.failed === 0 ? now : null })
      .where('id', '=', job.error_file)
      .execute();
  }
  // Charged whether or not the client deleted them meanwhile: their bytes stay until the job is purged.
  const charged = [
    ...(job.output_file ? [{ id: job.output_file, bytes: p.okBytes }] : []),
    ...(job.error_file && p.failed > 0 ? [{ id: job.error_file, bytes: p.errBytes }] : []),
  ];
  await chargeResultFiles(tx, job.workspace, charged);
  return p;
}
