import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { apiError, ApiError } from '../errors.js';
import { unixSeconds } from '../clock.js';
import { stageUpload, type StagedUpload } from '../ingest/stage-upload.js';
import type { LineError } from '../ingest/batch-file-validator.js';
import { getFile, insertFile, listFiles, markFileDeleted, type FileRow } from '../store/files.js';
import { listFilesAfter } from '../store/files-cursor.js';
import { StorageQuotaExceeded } from '../store/storage-usage.js';
import { quotaErrorAtCommit, startUploadMeter, storageQuotaFor } from './storage-quota.js';
import type { AppContext } from './context.js';
import { contentDisposition } from './content-disposition.js';
import { signedUrlBase } from './signed-urls.js';
import { isTerminal } from '../queue/states.js';
import { z } from 'zod';
import { idParams, intOf, pagingShape, query, queryField, stringOf } from './query.js';
import type { ZodTypeProvider } from './zod-provider.js';
import { isOpenAiClient } from '../dialects/openai/client.js';
import { openAiClientErrorPayload } from '../dialects/openai/errors.js';

const PURPOSES = ['batch', 'fine-tune', 'ocr'];
/**
 * Mistral's default when the form has no `purpose`: the Aug–Nov 2024 OpenAPI declared
 * `default: fine-tune` (later specs give none), the current spec's upload example answers
 * `purpose: fine-tune, sample_type: instruct`, and the SDK's own async_files.ts example
 * uploads a fine-tuning JSONL as a bare Blob with no purpose.
 */
const DEFAULT_PURPOSE = 'fine-tune';
const VISIBILITIES = ['workspace', 'user'];
const FORM_FIELDS = ['purpose', 'visibility', 'expiry'];

const MIMETYPES: Record<string, string> = {
  '.jsonl': 'application/jsonl',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};

/** The file object of Mistral's Files API (`bytes` always an integer; the SDK rejects null). */
export function fileObject(row: FileRow) {
  return {
    id: row.id,
    object: 'file',
    bytes: Number(row.bytes),
    created_at: unixSeconds(row.created_at),
    filename: row.filename,
    purpose: row.purpose,
    sample_type: row.sample_type,
    source: row.source,
    num_lines: row.num_lines === null ? null : Number(row.num_lines),
    mimetype: row.mimetype,
    signature: row.signature,
    expires_at: row.expires_at === null ? null : unixSeconds(row.expires_at),
    visibility: row.visibility,
    // What OpenAI's SDK reads: a stored file is validated while it streams in, so it is always processed.
    status: 'processed',
    status_details: null,
  };
}

const fileParams = idParams('file_id');

/** OpenAI's largest (and default) page of files. */
const FILE_PAGE_MAX = 10_000;

/** GET /v1/files's query, in the order its errors used to be checked. */
const listFilesQuery = z.object({
  // Validated but always honoured as true: TS SDK 1.5.0 requires an integer total.
  include_total: query.bool(true),
  ...pagingShape,
  sample_type: query.list(),
  source: query.list(),
  mimetypes: query.list(),
  search: query.string(),
  purpose: query.string(),
  // OpenAI's cursor paging (files.list({after, limit, order})): given any of them, the list pages by cursor.
  after: query.string(),
  limit: queryField((v, name) => (stringOf(v, name) === undefined ? undefined : intOf(v, name, FILE_PAGE_MAX, 1, FILE_PAGE_MAX))),
  order: query.string(),
});

const signedUrlQuery = z.object({ expiry: query.int(24, 1, 168) });

const signedDownloadQuery = z.object({ workspace: query.string(), expires: query.string(), signature: query.string() });

/** Errors in the client's shape: OpenAI's for OpenAI's SDKs, Mistral's otherwise (dialects/openai/client.ts). */
const onSend = openAiClientErrorPayload;

export function registerFileRoutes(fastify: FastifyInstance, ctx: AppContext) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.post('/v1/files', { onSend }, async (req) => {
    if (!req.isMultipart()) {
      throw apiError('unsupported_media_type', 'Upload files as multipart/form-data with a "file" part (and optionally "purpose": batch, fine-tune or ocr).');
    }
    const quota = storageQuotaFor(ctx, req.principal.workspace);
    // A full workspace is refused before the body is read (transport.ts closes such a connection rather than drain it).
    const meter = await startUploadMeter(ctx, quota);
    const fields: Record<string, string> = {};
    let staged: StagedUpload | null = null;
    let committed = false;
    let filename = 'file';
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || staged) {
            part.file.resume();
            throw apiError('unexpected_file_part', `Unexpected file part '${part.fieldname}': send exactly one file, in the part named "file".`, {
              param: part.fieldname,
            });
          }
          filename = sanitizeFilename((part as MultipartFile).filename);
          staged = await stageUpload(part.file, ctx.blobs, ctx.validation.check(ctx.config), meter.onBytes);
        } else {
          if (!FORM_FIELDS.includes(part.fieldname)) {
            throw apiError('extra_forbidden', `Unknown form field '${part.fieldname}': expected file, purpose, visibility or expiry.`, {
              param: part.fieldname,
            });
          }
          fields[part.fieldname] = String(part.value);
        }
      }
      if (!staged) throw apiError('missing_file', 'The form has no "file" part: attach the file to upload.', { param: 'file' });
      const row = checkUpload(ctx, req.principal.workspace, filename, fields, staged, isOpenAiClient(req));
      await staged.writer.commit();
      committed = true;
      await insertFile(ctx.db.kysely, row, row.purpose === 'batch' ? staged.summary.chunks : [], quota);
      return fileObject(row);
    } catch (err) {
      // A committed blob whose row was refused (the quota, checked again at commit) is deleted like any other.
      if (committed) await ctx.blobs.delete(staged!.writer.key).catch(() => undefined);
      else await staged?.writer.abort();
      if (err instanceof StorageQuotaExceeded) throw quotaErrorAtCommit(quota, err);
      throw err;
    } finally {
      meter.release();
    }
  });

  app.get('/v1/files', { schema: { querystring: listFilesQuery }, onSend }, async (req) => {
    const q = req.query;
    if (q.after !== undefined || q.limit !== undefined || q.order !== undefined) return listFilesByCursor(ctx, req.principal.workspace, q);
    const { rows, total } = await listFiles(
      ctx.db.kysely,
      req.principal.workspace,
      { page: q.page, pageSize: q.page_size, sampleTypes: q.sample_type, sources: q.source, mimetypes: q.mimetypes, search: q.search, purpose: q.purpose },
      ctx.clock.now(),
    );
    const data = (await ctx.queue.withLiveSizes(rows)).map(fileObject);
    return { data, object: 'list', total, has_more: (q.page + 1) * q.page_size < total, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  });

  app.get('/v1/files/:file_id', { schema: { params: fileParams }, onSend }, async (req) => {
    const row = await findFile(ctx, req.principal.workspace, req.params.file_id);
    return { ...fileObject(row), deleted: false };
  });

  app.delete('/v1/files/:file_id', { schema: { params: fileParams }, onSend }, async (req) => {
    const id = req.params.file_id;
    const row = await findFile(ctx, req.principal.workspace, id);
    await markFileDeleted(ctx.db.kysely, req.principal.workspace, id, ctx.clock.now());
    // Its bytes go now unless a running job still reads them (then when that job ends).
    if (!row.job_id) await ctx.queue.releaseFile(id, ctx.clock.now());
    return { id, object: 'file', deleted: true };
  });

  app.get('/v1/files/:file_id/content', { schema: { params: fileParams }, onSend }, async (req, reply) => {
    const row = await findFile(ctx, req.principal.workspace, req.params.file_id);
    return sendFile(ctx, row, reply);
  });

  app.get('/v1/files/:file_id/url', { schema: { params: fileParams, querystring: signedUrlQuery }, onSend }, async (req) => {
    const expiryHours = req.query.expiry;
    const row = await findFile(ctx, req.principal.workspace, req.params.file_id);
    const expires = unixSeconds(ctx.clock.now()) + expiryHours * 3600;
    const sig = ctx.signer.sign(row.id, row.workspace, expires);
    const base = signedUrlBase(ctx.config.publicUrl, ctx.config.limits.trustedHosts, req.protocol, req.host);
    const params = new URLSearchParams({ workspace: row.workspace, expires: String(expires), signature: sig });
    return { url: `${base}/signed/files/${row.id}/content?${params}` };
  });
}

/** GET /v1/files as OpenAI pages it: `after` a file id, `limit` files, newest first unless `order=asc`. */
async function listFilesByCursor(ctx: AppContext, workspace: string, q: z.output<typeof listFilesQuery>) {
  if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') {
    throw apiError('invalid_query', `query parameter 'order' must be asc or desc, got '${q.order}'`, { param: 'order' });
  }
  const now = ctx.clock.now();
  const after = q.after === undefined ? null : await getFile(ctx.db.kysely, workspace, q.after, now);
  if (after === undefined) throw apiError('invalid_query', `query parameter 'after' names no file of this workspace: '${q.after}'`, { param: 'after' });
  const limit = q.limit ?? FILE_PAGE_MAX;
  const rows = await listFilesAfter(ctx.db.kysely, workspace, { after, limit, ascending: q.order === 'asc', purpose: q.purpose }, now);
  const data = (await ctx.queue.withLiveSizes(rows.slice(0, limit))).map(fileObject);
  return { object: 'list', data, has_more: rows.length > limit, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/** The signed-URL download: no bearer key, the signature is the credential. */
export function registerSignedDownload(fastify: FastifyInstance, ctx: AppContext) {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/signed/files/:file_id/content', { schema: { params: fileParams, querystring: signedDownloadQuery } }, async (req, reply) => {
    const id = req.params.file_id;
    const workspace = req.query.workspace ?? '';
    const expires = Number(req.query.expires);
    const signature = req.query.signature ?? '';
    if (!Number.isInteger(expires) || !ctx.signer.verify(id, workspace, expires, signature)) {
      throw apiError('invalid_signature', 'This signed URL is not valid for this file.');
    }
    if (expires < unixSeconds(ctx.clock.now())) {
      throw apiError('signed_url_expired', 'This signed URL has expired; ask for a new one.');
    }
    return sendFile(ctx, await findFile(ctx, workspace, id), reply);
  });
}

/** The file (with live sizes if it is a running job's result), or 404 (also for another workspace's id). */
async function findFile(ctx: AppContext, workspace: string, id: string): Promise<FileRow> {
  const row = await getFile(ctx.db.kysely, workspace, id, ctx.clock.now());
  if (!row) throw apiError('file_not_found', `No file with id '${id}' exists in this workspace.`);
  return (await ctx.queue.withLiveSizes([row]))[0]!;
}

/** Raw bytes as application/octet-stream: the SDKs reject application/jsonl on download. */
async function sendFile(ctx: AppContext, row: FileRow, reply: FastifyReply) {
  reply.header('content-type', 'application/octet-stream');
  reply.header('content-disposition', contentDisposition(row.filename));
  if (row.job_id) {
    const [job] = await ctx.queue.jobStates([row.job_id]);
    // A running job's file grows while it streams, so only a finished one has a fixed length.
    if (job && isTerminal(job.status)) reply.header('content-length', Number(row.bytes));
    return reply.send(ctx.results.stream(row.job_id, row.result_kind === 'error' ? 'error' : 'output'));
  }
  reply.header('content-length', Number(row.bytes));
  return reply.send(ctx.blobs.read(row.blob_key));
}

/**
 * A batch file whose invalid lines are kept (an OpenAI client's upload): OpenAI stores such a
 * file and fails the batch made from it at validation, with line-numbered errors
 * (dialects/openai/validate-input.ts). Its invalid lines are in its chunks, so a Mistral job
 * made from it fails each of them as a line. An overlong line (the chunks cannot hold it) or
 * a file with no lines is refused all the same.
 */
const keepsInvalidLines = (summary: StagedUpload['summary'], openAiClient: boolean) => openAiClient && summary.overlongLines === 0 && summary.requests > 0;

function checkUpload(
  ctx: AppContext,
  workspace: string,
  filename: string,
  fields: Record<string, string>,
  staged: StagedUpload,
  openAiClient: boolean,
): FileRow {
  const purpose = fields.purpose ?? DEFAULT_PURPOSE;
  if (!PURPOSES.includes(purpose)) throw apiError('invalid_purpose', `purpose must be one of ${PURPOSES.join(', ')}; got '${purpose}'.`, { param: 'purpose' });
  const visibility = fields.visibility ?? 'workspace';
  if (!VISIBILITIES.includes(visibility))
    throw apiError('invalid_visibility', `visibility must be workspace or user; got '${visibility}'.`, { param: 'visibility' });
  let expiresAt: number | null = null;
  const now = ctx.clock.now();
  if (fields.expiry !== undefined && fields.expiry !== '' && fields.expiry !== 'null') {
    const hours = Number(fields.expiry);
    if (!/^\d+$/.test(fields.expiry) || hours < 1 || hours > 8760) {
      throw apiError('invalid_expiry', `expiry must be a whole number of hours from 1 to 8760; got '${fields.expiry}'.`, { param: 'expiry' });
    }
    expiresAt = now + hours * 3600_000;
  }
  const { summary } = staged;
  // Only a batch input must have the batch-line shape; other purposes are stored as sent.
  if (purpose === 'batch' && summary.errorCount > 0 && !keepsInvalidLines(summary, openAiClient)) throw invalidBatchFile(summary.errors, summary.errorCount);
  const ext = path.extname(filename).toLowerCase();
  return {
    id: randomUUID(),
    workspace,
    filename,
    bytes: summary.bytes,
    purpose,
    sample_type: purpose === 'batch' ? 'batch_request' : 'instruct',
    source: 'upload',
    num_lines: purpose === 'batch' ? summary.requests : summary.lines,
    mimetype: MIMETYPES[ext] ?? (purpose === 'batch' ? 'application/jsonl' : 'application/octet-stream'),
    signature: staged.signature,
    expires_at: expiresAt,
    visibility,
    created_at: now,
    blob_key: staged.writer.key,
    hidden: 0,
    deleted_at: null,
    job_id: null,
    result_kind: null,
  };
}

function invalidBatchFile(errors: LineError[], total: number): ApiError {
  const first = errors[0]!;
  const where = first.line > 0 ? `line ${first.line}: ` : '';
  const more = total > 1 ? ` (${total - 1} more invalid line${total > 2 ? 's' : ''}; the first ${errors.length} are listed in detail)` : '';
  const message = `Invalid batch file: ${where}${first.message}${more}`;
  const opts = { param: 'file', detail: errors.map((e) => ({ loc: ['file', 'line', e.line], msg: e.message, type: e.code })) };
  return first.code === 'empty_file' ? apiError('empty_file', message, opts) : apiError('invalid_batch_file', message, opts);
}

function sanitizeFilename(name: string | undefined): string {
  const base = path.basename((name ?? '').replace(/\\/g, '/')).replace(/[\u0000-\u001f\u007f]/g, '');
  return base.slice(0, 255) || 'file';
}
