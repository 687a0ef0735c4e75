import type { Kysely } from 'kysely';
import type { Database, JobValidationErrorTable } from '../store/schema.js';
import type { ApiDialect } from '../dialects/types.js';
import { getJobByIdempotencyKey } from './jobs.js';
import { newJobRow } from './create-job.js';
import { JobStatus } from './states.js';
import { Priority } from './priority.js';
import type { JobRow, Q } from './types.js';

/** A job refused before it ran (its input failed validation), as the API saw it. */
export interface RejectedJob {
  workspace: string;
  createdBy: string | null;
  endpoint: string;
  model: string;
  metadata: Record<string, string> | null;
  timeoutHours: number;
  inputFiles: string[];
  idempotencyKey: string | null;
  dialect: ApiDialect;
  /** Its dialect's endpoint when the engines would run it under another (queue/create-job.ts). */
  apiEndpoint?: string | null;
  errors: Omit<JobValidationErrorTable, 'job_id' | 'seq'>[];
}

/**
 * Stores a job that failed validation: created FAILED (no transition leads there from
 * QUEUED; it is born finished), with no work items, so no worker ever claims it, and its
 * errors beside it, in one transaction. A concurrent create with the same Idempotency-Key
 * gets the job that won, as createJob does.
 */
export async function createRejectedJob(db: Kysely<Database>, spec: RejectedJob, now: number): Promise<JobRow> {
  // Born finished: FAILED at creation, with nothing to run.
  const row: JobRow = {
    ...newJobRow({ ...spec, agentId: null, total: 0, priority: Priority.normal, webhookUrl: null }, now),
    status: JobStatus.FAILED,
    inline: 0,
    completed_at: now,
  };
  try {
    await db.transaction().execute(async (tx) => {
      await tx.insertInto('batch_jobs').values(row).execute();
      const entries = Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ job_id: row.id, key, value }));
      if (entries.length) await tx.insertInto('job_metadata').values(entries).execute();
      const errors = spec.errors.map((e, seq) => ({ ...e, job_id: row.id, seq }));
      if (errors.length) await tx.insertInto('job_validation_errors').values(errors).execute();
    });
    return row;
  } catch (err) {
    const winner = spec.idempotencyKey ? await getJobByIdempotencyKey(db, spec.workspace, spec.idempotencyKey) : undefined;
    if (winner) return winner;
    throw err;
  }
}

/** A refused job's validation errors, in the order they were found. */
export async function validationErrors(db: Q, jobId: string) {
  return db.selectFrom('job_validation_errors').select(['line', 'code', 'message', 'param']).where('job_id', '=', jobId).orderBy('seq').execute();
}
