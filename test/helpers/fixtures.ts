import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/store/database.js';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { stageRequests } from '../../src/ingest/stage-upload.js';
import { insertFile } from '../../src/store/files.js';
import { createQueue, Priority, type JobRow, type PriorityName } from '../../src/queue/index.js';

/** Stores a batch input of `n` chat requests (custom_id `<prefix><i>`) and returns its file id. */
export async function seedInputFile(db: Db, blobs: BlobStore, workspace: string, n: number, opts: { chunkLines?: number; prefix?: string; now?: number } = {}) {
  const requests = Array.from({ length: n }, (_, i) => ({
    custom_id: `${opts.prefix ?? 'r'}${i}`,
    body: { messages: [{ role: 'user', content: `hello ${i}` }] },
  }));
  const staged = await stageRequests(requests, blobs, { maxLineBytes: 1 << 20, chunkLines: opts.chunkLines ?? 10 });
  await staged.writer.commit();
  const id = randomUUID();
  await insertFile(
    db.kysely,
    {
      id,
      workspace,
      filename: 'in.jsonl',
      bytes: staged.summary.bytes,
      purpose: 'batch',
      sample_type: 'batch_request',
      source: 'upload',
      num_lines: n,
      mimetype: 'application/jsonl',
      signature: staged.signature,
      expires_at: null,
      visibility: 'workspace',
      created_at: opts.now ?? Date.now(),
      blob_key: staged.writer.key,
      hidden: 0,
      deleted_at: null,
      job_id: null,
      result_kind: null,
    },
    staged.summary.chunks,
  );
  return { id, blobKey: staged.writer.key };
}

/** Creates a QUEUED job over one seeded input file (custom_id `<workspace>-<i>`; normal priority unless given). */
export async function seedJob(
  db: Db,
  blobs: BlobStore,
  workspace: string,
  n: number,
  opts: { chunkLines?: number; now?: number; timeoutHours?: number; model?: string; priority?: PriorityName } = {},
): Promise<JobRow> {
  const now = opts.now ?? Date.now();
  const file = await seedInputFile(db, blobs, workspace, n, { ...opts, prefix: `${workspace}-` });
  const queue = createQueue(db, { blobs, leaseMs: 10_000 });
  const spec = {
    workspace,
    createdBy: null,
    endpoint: '/v1/chat/completions',
    model: opts.model ?? 'mistral-small-latest',
    agentId: null,
    metadata: null,
    timeoutHours: opts.timeoutHours ?? 24,
    inputFiles: [file.id],
    inputs: [{ fileId: file.id, blobKey: file.blobKey, lineOffset: 0, chunkOffset: 0 }],
    total: n,
    idempotencyKey: null,
    priority: Priority[opts.priority ?? 'normal'],
  };
  return (await queue.create(spec, now)).job;
}

export const okOutcome = (lineNo: number) => ({
  lineNo,
  customId: `c${lineNo}`,
  ok: true,
  response: { status_code: 200, body: { n: lineNo } },
  error: null,
  promptTokens: 2,
  completionTokens: 3,
});
