import { sql, type Kysely, type Transaction } from 'kysely';
import type { BatchJobTable, Database } from './schema.js';
import type { StoreKind } from './database.js';
import { notExpired } from './files.js';

export type JobRow = BatchJobTable;

export const TERMINAL_STATUSES = ['SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED'] as const;
export const JOB_STATUSES = ['QUEUED', 'RUNNING', ...TERMINAL_STATUSES, 'CANCELLATION_REQUESTED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const isTerminal = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);

type Q = Kysely<Database> | Transaction<Database>;

/** Where a job's work comes from: one blob's chunk table, shifted to the job's line numbering. */
export interface JobInput {
  fileId: string;
  blobKey: string;
  lineOffset: number;
  chunkOffset: number;
}

/** An input file was deleted between the request's checks and the job's insertion. */
export class InputFileGone extends Error {}

/**
 * Creates a job and its work items in one transaction: the job is never visible
 * without every chunk the runner will claim. Chunks are copied from the files'
 * chunk tables in SQL, so a million-line job costs no memory here.
 */
export async function insertJob(db: Kysely<Database>, kind: StoreKind, row: JobRow, inputs: JobInput[], metadata: Record<string, string> | null) {
  await db.transaction().execute(async (tx) => {
    // The inputs must still exist, and stay so until the chunks that keep their bytes alive are
    // committed: on PostgreSQL a share lock holds off a concurrent delete (SQLite writers are serialised).
    let live = tx
      .selectFrom('files')
      .select('id')
      .where('id', 'in', inputs.map((i) => i.fileId))
      .where('deleted_at', 'is', null)
      .where('blob_key', '!=', '')
      .where(notExpired(row.created_at));
    if (kind === 'postgres') live = live.forShare();
    const found = new Set((await live.execute()).map((r) => r.id));
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
              eb.val('pending').as('state'),
              eb.val(0).as('lease_token'),
              eb.val(0).as('attempts'),
            ])
            .where('file_id', '=', input.fileId),
        )
        .execute();
    }
  });
}

function visibleJobs(db: Q, workspace: string) {
  return db.selectFrom('batch_jobs').where('workspace', '=', workspace).where('deleted_at', 'is', null);
}

/** The job a workspace already created with this Idempotency-Key (deleted or not). */
export async function getJobByIdempotencyKey(db: Q, workspace: string, key: string): Promise<JobRow | undefined> {
  return db.selectFrom('batch_jobs').selectAll().where('workspace', '=', workspace).where('idempotency_key', '=', key).executeTakeFirst();
}

export async function getJob(db: Q, workspace: string, id: string): Promise<JobRow | undefined> {
  return visibleJobs(db, workspace).selectAll().where('id', '=', id).executeTakeFirst();
}

export interface JobFilters {
  page: number;
  pageSize: number;
  statuses?: string[];
  model?: string;
  agentId?: string;
  createdAfter?: number;
  createdBy?: string;
  ascending: boolean;
  metadata: Record<string, string>;
}

export async function listJobs(db: Q, workspace: string, f: JobFilters) {
  let q = visibleJobs(db, workspace);
  if (f.statuses?.length) q = q.where('status', 'in', f.statuses);
  if (f.model) q = q.where('model', '=', f.model);
  if (f.agentId) q = q.where('agent_id', '=', f.agentId);
  if (f.createdAfter !== undefined) q = q.where('created_at', '>', f.createdAfter);
  if (f.createdBy) q = q.where('created_by', '=', f.createdBy);
  for (const [key, value] of Object.entries(f.metadata)) {
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('job_metadata as m')
          .select('m.job_id')
          .whereRef('m.job_id', '=', 'batch_jobs.id')
          .where('m.key', '=', key)
          .where('m.value', '=', value),
      ),
    );
  }
  const dir = f.ascending ? 'asc' : 'desc';
  const rows = await q
    .selectAll()
    .orderBy('created_at', dir)
    .orderBy('id', dir)
    .limit(f.pageSize)
    .offset(f.page * f.pageSize)
    .execute();
  const total = Number((await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { rows, total };
}

/** QUEUED/RUNNING → CANCELLATION_REQUESTED; the runner finishes the move to CANCELLED. */
export async function requestCancel(db: Q, workspace: string, id: string, now: number): Promise<void> {
  await db
    .updateTable('batch_jobs')
    .set({ status: 'CANCELLATION_REQUESTED', cancel_requested_at: now })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('status', 'in', ['QUEUED', 'RUNNING'])
    .execute();
}

export async function markJobDeleted(db: Q, workspace: string, id: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('batch_jobs')
    .set({ deleted_at: now })
    .where('workspace', '=', workspace)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .where('status', 'in', [...TERMINAL_STATUSES])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
