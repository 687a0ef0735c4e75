import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { notExpired } from '../store/files.js';
import type { QueueDialect } from './dialect.js';
import { getJobByIdempotencyKey } from './jobs.js';
import { ChunkState, JobStatus } from './states.js';
import { Priority } from './priority.js';
import type { JobInput, JobRow } from './types.js';
import type { ApiDialect } from '../dialects/types.js';

/** An input file was deleted between the request's checks and the job's insertion. */
export class InputFileGone extends Error {}

/** A job to create, as the API validated it. */
export interface NewJob {
  workspace: string;
  /** The API key that created it (`created_by_me`). */
  createdBy: string | null;
  endpoint: string;
  model: string;
  agentId: string | null;
  metadata: Record<string, string> | null;
  timeoutHours: number;
  /** Client-visible input files; empty for inline and retry jobs (their input is a hidden file). */
  inputFiles: string[];
  /** Where its lines come from, and how many there are. */
  inputs: JobInput[];
  total: number;
  idempotencyKey: string | null;
  /** The API it is created through (Mistral's when not given). */
  dialect?: ApiDialect;
  /** Claim order within its workspace (queue/priority.ts); normal when not given. */
  priority?: number;
  /** Where its terminal state is POSTed; none when not given. */
  webhookUrl?: string | null;
  /** Its dialect's endpoint when the engines run it under another (an OpenAI Responses batch runs as chat). */
  apiEndpoint?: string | null;
}

/** The row of a new QUEUED job: every counter at zero, the deadline `timeoutHours` from now. */
export function newJobRow(spec: Omit<NewJob, 'inputs'>, now: number): JobRow {
  return {
    id: randomUUID(),
    workspace: spec.workspace,
    created_by: spec.createdBy,
    endpoint: spec.endpoint,
    model: spec.model,
    agent_id: spec.agentId,
    metadata: spec.metadata ? JSON.stringify(spec.metadata) : null,
    timeout_hours: spec.timeoutHours,
    status: JobStatus.QUEUED,
    input_files: JSON.stringify(spec.inputFiles),
    inline: spec.inputFiles.length ? 0 : 1,
    output_file: null,
    error_file: null,
    created_at: now,
    started_at: null,
    completed_at: null,
    deadline_at: now + spec.timeoutHours * 3600_000,
    cancel_requested_at: null,
    total_requests: spec.total,
    completed_requests: 0,
    succeeded_requests: 0,
    failed_requests: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    deleted_at: null,
    idempotency_key: spec.idempotencyKey,
    dialect: spec.dialect ?? 'mistral',
    priority: spec.priority ?? Priority.normal,
    paused_at: null,
    webhook_url: spec.webhookUrl ?? null,
    api_endpoint: spec.apiEndpoint ?? null,
  };
}

/**
 * Creates a QUEUED job. `created` is false when a concurrent create with the same
 * Idempotency-Key won (the unique index lets one insert through): that job is returned.
 */
export async function createJob(db: Kysely<Database>, dialect: QueueDialect, spec: NewJob, now: number): Promise<{ job: JobRow; created: boolean }> {
  const row = newJobRow(spec, now);
  try {
    await insertJob(db, dialect, row, spec.inputs, spec.metadata);
    return { job: row, created: true };
  } catch (err) {
    // Two concurrent creates with one Idempotency-Key: the unique index lets one win; return it.
    const winner = spec.idempotencyKey ? await getJobByIdempotencyKey(db, spec.workspace, spec.idempotencyKey) : undefined;
    if (winner) return { job: winner, created: false };
    throw err;
  }
}

/**
 * Creates a job and its work items in one transaction: the job is never visible
 * without every chunk the runner will claim. Chunks are copied from the files'
 * chunk tables in SQL, so a million-line job costs no memory here.
 */
async function insertJob(db: Kysely<Database>, dialect: QueueDialect, row: JobRow, inputs: JobInput[], metadata: Record<string, string> | null) {
  await db.transaction().execute(async (tx) => {
    // The inputs must still exist, and stay so until the chunks that keep their bytes alive are
    // committed: on PostgreSQL a share lock holds off a concurrent delete (SQLite writers are serialised).
    const live = tx
      .selectFrom('files')
      .select('id')
      .where(
        'id',
        'in',
        inputs.map((i) => i.fileId),
      )
      .where('deleted_at', 'is', null)
      .where('blob_key', '!=', '')
      .where(notExpired(row.created_at));
    const found = new Set((await dialect.forShare(live).execute()).map((r) => r.id));
    const gone = inputs.find((i) => !found.has(i.fileId));
    if (gone) throw new InputFileGone(gone.fileId);
    await tx.insertInto('batch_jobs').values(row).execute();
    if (metadata) {
      const entries = Object.entries(metadata).map(([key, value]) => ({ job_id: row.id, key, value }));
      if (entries.length) await tx.insertInto('job_metadata').values(entries).execute();
    }
    for (const input of inputs) {
      await tx
        .insertInto('job_chunks')
        .columns(['job_id', 'chunk_no', 'blob_key', 'byte_start', 'byte_end', 'first_line', 'line_count', 'state', 'lease_token', 'attempts'])
        .expression((eb) =>
          eb
            .selectFrom('file_chunks')
            .select([
              eb.val(row.id).as('job_id'),
              sql<number>`chunk_no + ${input.chunkOffset}`.as('chunk_no'),
              eb.val(input.blobKey).as('blob_key'),
              'byte_start',
              'byte_end',
              sql<number>`first_line + ${input.lineOffset}`.as('first_line'),
              'line_count',
              eb.val(ChunkState.PENDING).as('state'),
              eb.val(0).as('lease_token'),
              eb.val(0).as('attempts'),
            ])
            .where('file_id', '=', input.fileId),
        )
        .execute();
    }
  });
}
