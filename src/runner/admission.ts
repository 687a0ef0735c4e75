import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { FileRow } from '../store/files.js';
import type { ResultFiles } from './ledger/record-outcomes.js';
import { batchCost, type ModelRegistry } from '../models/registry.js';

/**
 * A workspace's spend so far (all its jobs' tokens at batch price) against its limit.
 * Checked only at admission: work already running may take it slightly past, as Mistral's FAQ says.
 */
export async function spendLimitReached(db: Kysely<Database>, registry: ModelRegistry, workspace: string): Promise<boolean> {
  const limit = registry.spendLimits[workspace];
  if (limit === undefined) return false;
  // Finished jobs carry folded totals; running ones are summed from their chunks.
  const rows = await db
    .selectFrom('batch_jobs')
    .select(['model', (eb) => eb.fn.sum<number>('prompt_tokens').as('p'), (eb) => eb.fn.sum<number>('completion_tokens').as('c')])
    .where('workspace', '=', workspace)
    .groupBy('model')
    .unionAll(
      db
        .selectFrom('job_chunks as k')
        .innerJoin('batch_jobs as j', 'j.id', 'k.job_id')
        .select(['j.model', (eb) => eb.fn.sum<number>('k.prompt_tokens').as('p'), (eb) => eb.fn.sum<number>('k.completion_tokens').as('c')])
        .where('j.workspace', '=', workspace)
        .where('j.status', 'in', ['QUEUED', 'RUNNING', 'CANCELLATION_REQUESTED'])
        .groupBy('j.model'),
    )
    .execute();
  const spent = rows.reduce((sum, r) => sum + (batchCost(registry, r.model, Number(r.p), Number(r.c)) ?? 0), 0);
  return spent >= limit;
}

/**
 * Starts queued jobs while their workspace stays within the pending-requests cap,
 * oldest first per workspace (a later small job never overtakes an older big one, so
 * neither starves). A job starts with its output and error files already created, so
 * both can be read while it runs.
 */
export async function admitQueuedJobs(db: Kysely<Database>, maxPending: number, now: number, overSpendLimit?: (workspace: string) => Promise<boolean>): Promise<string[]> {
  const queued = await db
    .selectFrom('batch_jobs')
    .select(['id', 'workspace', 'total_requests'])
    .where('status', '=', 'QUEUED')
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .limit(500)
    .execute();
  if (queued.length === 0) return [];
  const running = await db
    .selectFrom('job_chunks as c')
    .innerJoin('batch_jobs as j', 'j.id', 'c.job_id')
    .select(['j.workspace', sql<number>`sum(c.line_count - c.succeeded - c.failed)`.as('pending')])
    .where('j.status', 'in', ['RUNNING', 'CANCELLATION_REQUESTED'])
    // Only workspaces with something queued: other workspaces' running chunks are not needed.
    .where('j.workspace', 'in', [...new Set(queued.map((q) => q.workspace))])
    .groupBy('j.workspace')
    .execute();
  const pending = new Map(running.map((r) => [r.workspace, Number(r.pending)]));
  const blocked = new Set<string>();
  const started: string[] = [];
  for (const job of queued) {
    if (blocked.has(job.workspace)) continue;
    const current = pending.get(job.workspace) ?? 0;
    if (current + Number(job.total_requests) > maxPending || (await overSpendLimit?.(job.workspace))) {
      blocked.add(job.workspace);
      continue;
    }
    if (await startJob(db, job.id, job.workspace, now)) {
      pending.set(job.workspace, current + Number(job.total_requests));
      started.push(job.id);
    }
  }
  return started;
}

async function startJob(db: Kysely<Database>, jobId: string, workspace: string, now: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const res = await tx
      .updateTable('batch_jobs')
      .set({ status: 'RUNNING', started_at: now })
      .where('id', '=', jobId)
      .where('status', '=', 'QUEUED')
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await attachResultFiles(tx, jobId, workspace, now);
    return true;
  });
}

/** Creates a job's output and error file rows (once); their bytes are the job's result records. */
export async function attachResultFiles(tx: Kysely<Database>, jobId: string, workspace: string, now: number): Promise<ResultFiles> {
  const job = await tx.selectFrom('batch_jobs').select(['output_file', 'error_file']).where('id', '=', jobId).executeTakeFirstOrThrow();
  if (job.output_file && job.error_file) return job;
  const resultFile = (kind: 'output' | 'error'): FileRow => ({
    id: randomUUID(),
    workspace,
    filename: `batch-${jobId}-${kind}.jsonl`,
    bytes: 0,
    purpose: 'batch',
    sample_type: kind === 'output' ? 'batch_result' : 'batch_error',
    source: 'mistral',
    // null while the job runs: sizes are then summed live from its chunks.
    num_lines: null,
    mimetype: 'application/jsonl',
    signature: null,
    expires_at: null,
    visibility: 'workspace',
    created_at: now,
    blob_key: '',
    hidden: 0,
    deleted_at: null,
    job_id: jobId,
    result_kind: kind,
  });
  const output = resultFile('output');
  const error = resultFile('error');
  await tx.insertInto('files').values([output, error]).execute();
  await tx.updateTable('batch_jobs').set({ output_file: output.id, error_file: error.id }).where('id', '=', jobId).execute();
  return { output_file: output.id, error_file: error.id };
}
