import { randomUUID } from 'node:crypto';
import type { FileRow } from '../store/files.js';
import type { Q, ResultFiles } from './types.js';

/** Creates a job's output and error file rows (once); their bytes are the job's result records. */
export async function attachResultFiles(tx: Q, jobId: string, workspace: string, now: number): Promise<ResultFiles> {
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
