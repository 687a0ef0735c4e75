import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { insertFile } from '../../src/store/files.js';
import type { Database } from '../../src/store/schema.js';
import { chatLines, startTestServer, uploadJsonl, type TestServer } from '../helpers/server.js';

type Send = (s: TestServer, ctx: Fixture) => Promise<Response>;
interface Fixture {
  fileA: string;
  fileB: string;
  fineTune: string;
  resultFile: string;
  jobA: string;
}
interface Case {
  name: string;
  send: Send;
  status: number;
  code: string;
  /** What the message must name: the field, the line number, the expected form. */
  says: RegExp;
  /** For 422 body validation: the FastAPI-style detail entry expected first. */
  detail?: { type: string; loc: (string | number)[] };
}

const line = (o: unknown) => JSON.stringify(o);
const good = (id: string) => line({ custom_id: id, body: { messages: [{ role: 'user', content: 'hi' }] } });

function uploadRaw(
  s: TestServer,
  content: string | Uint8Array,
  fields: Record<string, string> = { purpose: 'batch' },
  ws: 'a' | 'b' = 'a',
  fileField = 'file',
  extraFile?: string,
) {
  const form = new FormData();
  form.append(fileField, new Blob([content]), 'in.jsonl');
  if (extraFile !== undefined) form.append('file', new Blob([extraFile]), 'second.jsonl');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return fetch(`${s.url}/v1/files`, { method: 'POST', headers: s.auth(ws), body: form });
}
const post = (s: TestServer, url: string, contentType: string, body: string | FormData) =>
  fetch(`${s.url}${url}`, { method: 'POST', headers: { ...s.auth(), ...(contentType ? { 'content-type': contentType } : {}) }, body });
const formOf = (fields: Record<string, string>) => {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
};
const createJob = (s: TestServer, body: unknown, ws: 'a' | 'b' = 'a') =>
  fetch(`${s.url}/v1/batch/jobs`, { method: 'POST', headers: { ...s.auth(ws), 'content-type': 'application/json' }, body: JSON.stringify(body) });
const chat = (extra: Record<string, unknown>) => ({ endpoint: '/v1/chat/completions', model: 'mistral-small-latest', ...extra });
const get = (s: TestServer, url: string, ws: 'a' | 'b' = 'a', method = 'GET') => fetch(`${s.url}${url}`, { method, headers: s.auth(ws) });

/** The server's per-workspace pending-request limit, kept small so one case can exceed it cheaply. */
const PENDING_LIMIT = 50;

const CASES: Case[] = [
  {
    name: 'a line that is not JSON',
    send: (s) => uploadRaw(s, `${good('1')}\n{"custom_id": "2", body}\n`),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 2: is not valid JSON/,
  },
  { name: 'a line that is a JSON array', send: (s) => uploadRaw(s, `[1,2]\n`), status: 400, code: 'invalid_batch_file', says: /line 1: must be a JSON object/ },
  {
    name: 'a line without body',
    send: (s) => uploadRaw(s, `${good('1')}\n${good('2')}\n{"custom_id":"3"}\n`),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 3: has no "body"/,
  },
  {
    name: 'a body that is a string',
    send: (s) => uploadRaw(s, `{"custom_id":"1","body":"hi"}\n`),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 1: "body" must be a JSON object, got a string/,
  },
  {
    name: 'a numeric custom_id',
    send: (s) => uploadRaw(s, `{"custom_id":7,"body":{}}\n`),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 1: "custom_id" must be a string, got a number/,
  },
  {
    name: 'a duplicate custom_id',
    send: (s) => uploadRaw(s, `${good('a')}\n${good('b')}\n${good('a')}\n`),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 3: repeats custom_id "a" already used on line 1/,
  },
  { name: 'an empty file', send: (s) => uploadRaw(s, ''), status: 400, code: 'empty_file', says: /no requests/ },
  { name: 'a file of blank lines', send: (s) => uploadRaw(s, '\n  \n\r\n'), status: 400, code: 'empty_file', says: /no requests/ },
  {
    name: 'invalid UTF-8',
    send: (s) => uploadRaw(s, Buffer.concat([Buffer.from('{"custom_id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","body":{}}\n')])),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 1: is not valid UTF-8/,
  },
  {
    name: 'a line over the line limit',
    send: (s) => uploadRaw(s, `${good('1')}\n${line({ custom_id: '2', body: { x: 'y'.repeat(2000) } })}\n`),
    status: 400,
    code: 'invalid_batch_file',
    says: /line 2: is longer than the 1 KB line limit/,
  },
  { name: 'a file over the size limit', send: (s) => uploadRaw(s, `${good('1')}\n`.repeat(3000)), status: 413, code: 'file_too_large', says: /limit/ },
  {
    name: 'an unknown purpose',
    send: (s) => uploadRaw(s, `${good('1')}\n`, { purpose: 'training' }),
    status: 422,
    code: 'invalid_purpose',
    says: /purpose must be one of batch, fine-tune, ocr; got 'training'/,
  },
  {
    name: 'an unknown form field',
    send: (s) => uploadRaw(s, `${good('1')}\n`, { purpose: 'batch', colour: 'red' }),
    status: 422,
    code: 'extra_forbidden',
    says: /Unknown form field 'colour'/,
  },
  {
    name: 'no file part',
    send: (s) => {
      const f = new FormData();
      f.append('purpose', 'batch');
      return fetch(`${s.url}/v1/files`, { method: 'POST', headers: s.auth(), body: f });
    },
    status: 422,
    code: 'missing_file',
    says: /no "file" part/,
  },
  {
    name: 'a file part under another name',
    send: (s) => uploadRaw(s, `${good('1')}\n`, { purpose: 'batch' }, 'a', 'document'),
    status: 422,
    code: 'unexpected_file_part',
    says: /Unexpected file part 'document'/,
  },
  {
    name: 'a bad visibility',
    send: (s) => uploadRaw(s, `${good('1')}\n`, { purpose: 'batch', visibility: 'public' }),
    status: 422,
    code: 'invalid_visibility',
    says: /visibility must be workspace or user/,
  },
  {
    name: 'a bad expiry',
    send: (s) => uploadRaw(s, `${good('1')}\n`, { purpose: 'batch', expiry: '-3' }),
    status: 422,
    code: 'invalid_expiry',
    says: /expiry must be a whole number of hours/,
  },
  {
    name: 'two file parts',
    send: (s) => uploadRaw(s, `${good('1')}\n`, { purpose: 'batch' }, 'a', 'file', `${good('2')}\n`),
    status: 422,
    code: 'unexpected_file_part',
    says: /more than one file part: send exactly one file, in the part named "file"/,
  },
  {
    name: 'a url-encoded form on the upload route',
    send: (s) => post(s, '/v1/files', 'application/x-www-form-urlencoded', 'purpose=batch&file=x'),
    status: 415,
    code: 'unsupported_media_type',
    says: /multipart\/form-data/,
  },
  {
    name: 'a JSON body on the upload route',
    send: (s) => fetch(`${s.url}/v1/files`, { method: 'POST', headers: { ...s.auth(), 'content-type': 'application/json' }, body: '{}' }),
    status: 415,
    code: 'unsupported_media_type',
    says: /multipart\/form-data/,
  },
  {
    name: 'timeout_hours 0',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], timeout_hours: 0 })),
    status: 422,
    code: 'validation_error',
    says: /timeout_hours: timeout_hours must be from 1 to 168/,
  },
  {
    name: 'timeout_hours 169',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], timeout_hours: 169 })),
    status: 422,
    code: 'validation_error',
    says: /timeout_hours/,
  },
  {
    name: 'timeout_hours 1.5',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], timeout_hours: 1.5 })),
    status: 422,
    code: 'validation_error',
    says: /timeout_hours must be an integer/,
  },
  {
    name: 'timeout_hours as a string',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], timeout_hours: '24' })),
    status: 422,
    code: 'validation_error',
    says: /timeout_hours must be an integer number of hours/,
  },
  {
    name: 'more than 10,000 inline requests',
    send: (s) => createJob(s, chat({ requests: chatLines(10_001) })),
    status: 422,
    code: 'too_many_inline_requests',
    says: /10001 items; inline batches take at most 10000/,
  },
  {
    name: 'an inline request without body',
    send: (s) => createJob(s, chat({ requests: [{ custom_id: 'x', body: {} }, { custom_id: 'y' }] })),
    status: 422,
    code: 'missing_body',
    says: /requests\[1\] has no "body"/,
  },
  {
    name: 'a duplicate inline custom_id',
    send: (s) =>
      createJob(
        s,
        chat({
          requests: [
            { custom_id: 'x', body: {} },
            { custom_id: 'x', body: {} },
          ],
        }),
      ),
    status: 422,
    code: 'duplicate_custom_id',
    says: /requests\[1\] repeats custom_id "x" of requests\[0\]/,
  },
  {
    name: 'both input_files and requests',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], requests: [{ body: {} }] })),
    status: 422,
    code: 'invalid_input',
    says: /either input_files or requests, not both/,
  },
  { name: 'neither input_files nor requests', send: (s) => createJob(s, chat({})), status: 422, code: 'invalid_input', says: /input_files .* or requests/ },
  {
    name: 'an unknown model',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], model: 'gpt-4o' })),
    status: 422,
    code: 'model_not_found',
    says: /Unknown model 'gpt-4o'. Available: .*mistral-small-latest/,
  },
  {
    name: 'a model that does not serve the endpoint',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], model: 'mistral-embed' })),
    status: 422,
    code: 'endpoint_not_supported',
    says: /'mistral-embed' does not serve \/v1\/chat\/completions/,
  },
  {
    name: 'an endpoint batchd does not run',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], endpoint: '/v1/ocr' })),
    status: 422,
    code: 'unsupported_endpoint',
    says: /'\/v1\/ocr' is not supported/,
  },
  {
    name: 'an unknown endpoint',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], endpoint: '/v1/teleport' })),
    status: 422,
    code: 'invalid_endpoint',
    says: /not a batch endpoint/,
  },
  {
    name: 'no model',
    send: (s, f) => createJob(s, { endpoint: '/v1/chat/completions', input_files: [f.fileA] }),
    status: 422,
    code: 'missing_model',
    says: /model is required/,
  },
  {
    name: "another workspace's input file",
    send: (s, f) => createJob(s, chat({ input_files: [f.fileB] })),
    status: 404,
    code: 'file_not_found',
    says: /input_files\[0\]: no file with id/,
  },
  {
    name: 'a file id that does not exist',
    send: (s) => createJob(s, chat({ input_files: ['00000000-0000-4000-8000-000000000000'] })),
    status: 404,
    code: 'file_not_found',
    says: /input_files\[0\]/,
  },
  {
    name: 'a fine-tune file as batch input',
    send: (s, f) => createJob(s, chat({ input_files: [f.fineTune] })),
    status: 400,
    code: 'invalid_input_file',
    says: /file '[0-9a-f-]{36}' has purpose 'fine-tune', not 'batch'; upload the input with purpose "batch"/,
  },
  {
    name: 'a result file as batch input',
    send: (s, f) => createJob(s, chat({ input_files: [f.resultFile] })),
    status: 400,
    code: 'invalid_input_file',
    says: /is a batch result/,
  },
  {
    name: 'the same input file twice',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA, f.fileA] })),
    status: 422,
    code: 'duplicate_input_file',
    says: /same file more than once/,
  },
  {
    name: 'a metadata value that is not a string',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], metadata: { n: 1 } })),
    status: 422,
    code: 'validation_error',
    says: /metadata.n: metadata values must be strings/,
  },
  {
    name: 'a metadata key over 32 characters',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], metadata: { ['k'.repeat(33)]: 'v' } })),
    status: 422,
    code: 'validation_error',
    says: /metadata keys must be 1-32 characters/,
  },
  {
    name: 'a metadata value over 512 characters',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], metadata: { k: 'v'.repeat(513) } })),
    status: 422,
    code: 'validation_error',
    says: /metadata values must be 1-512 characters/,
  },
  {
    name: 'an unknown body field',
    send: (s, f) => createJob(s, chat({ input_files: [f.fileA], urgency: 'high' })),
    status: 422,
    code: 'validation_error',
    says: /Extra inputs are not permitted: 'urgency'/,
    detail: { type: 'extra_forbidden', loc: ['body', 'urgency'] },
  },
  {
    name: 'a text/plain body on job creation',
    send: (s, f) => post(s, '/v1/batch/jobs', 'text/plain', JSON.stringify(chat({ input_files: [f.fileA] }))),
    status: 415,
    code: 'unsupported_media_type',
    says: /application\/json/,
  },
  {
    name: 'a multipart form on job creation',
    send: (s, f) => post(s, '/v1/batch/jobs', '', formOf({ endpoint: '/v1/chat/completions', model: 'mistral-small-latest', input_files: f.fileA })),
    status: 415,
    code: 'unsupported_media_type',
    says: /takes a JSON body \(content-type: application\/json\), not multipart\/form-data/,
  },
  {
    name: 'a url-encoded form on job creation',
    send: (s) => post(s, '/v1/batch/jobs', 'application/x-www-form-urlencoded', 'endpoint=%2Fv1%2Fchat%2Fcompletions'),
    status: 415,
    code: 'unsupported_media_type',
    says: /application\/json/,
  },
  {
    name: 'a JSON body that is an array',
    send: (s, f) => post(s, '/v1/batch/jobs', 'application/json', JSON.stringify([chat({ input_files: [f.fileA] })])),
    status: 422,
    code: 'validation_error',
    says: /body: Expected object, received array/,
  },
  {
    name: 'no endpoint',
    send: (s, f) => createJob(s, { model: 'mistral-small-latest', input_files: [f.fileA] }),
    status: 422,
    code: 'validation_error',
    says: /endpoint: endpoint is required/,
    detail: { type: 'invalid_type', loc: ['body', 'endpoint'] },
  },
  {
    name: 'an inline job over the pending-request limit',
    send: (s) => createJob(s, chat({ requests: chatLines(PENDING_LIMIT + 1) })),
    status: 422,
    code: 'too_many_requests',
    says: new RegExp(`${PENDING_LIMIT + 1} requests; a workspace may have at most ${PENDING_LIMIT} pending`),
  },
  {
    name: 'a malformed JSON body',
    send: (s) => fetch(`${s.url}/v1/batch/jobs`, { method: 'POST', headers: { ...s.auth(), 'content-type': 'application/json' }, body: '{"endpoint": ' }),
    status: 400,
    code: 'invalid_json',
    says: /not valid JSON/,
  },
  { name: 'status=BOGUS', send: (s) => get(s, '/v1/batch/jobs?status=BOGUS'), status: 400, code: 'invalid_query', says: /status 'BOGUS' is not one of QUEUED/ },
  {
    name: 'page_size=0',
    send: (s) => get(s, '/v1/batch/jobs?page_size=0'),
    status: 400,
    code: 'invalid_query',
    says: /'page_size' must be an integer from 1 to 1000, got '0'/,
  },
  {
    name: 'order_by=x',
    send: (s) => get(s, '/v1/batch/jobs?order_by=x'),
    status: 400,
    code: 'invalid_query',
    says: /order_by must be 'created' or '-created'/,
  },
  {
    name: 'created_after=garbage',
    send: (s) => get(s, '/v1/batch/jobs?created_after=garbage'),
    status: 400,
    code: 'invalid_query',
    says: /created_after must be an ISO-8601 date-time/,
  },
  {
    name: 'created_by_me=maybe',
    send: (s) => get(s, '/v1/batch/jobs?created_by_me=maybe'),
    status: 400,
    code: 'invalid_query',
    says: /'created_by_me' must be true or false/,
  },
  {
    name: 'metadata=<not JSON>',
    send: (s) => get(s, '/v1/batch/jobs?metadata=%7Bnope'),
    status: 400,
    code: 'invalid_query',
    says: /metadata must be a JSON object/,
  },
  {
    name: 'status given twice with one bad value',
    send: (s) => get(s, '/v1/batch/jobs?status=QUEUED&status=DONE'),
    status: 400,
    code: 'invalid_query',
    says: /status 'DONE' is not one of/,
  },
  {
    name: 'page=-1 on the job list',
    send: (s) => get(s, '/v1/batch/jobs?page=-1'),
    status: 400,
    code: 'invalid_query',
    says: /'page' must be an integer from 0/,
  },
  {
    name: 'inline=maybe on a job',
    send: (s, f) => get(s, `/v1/batch/jobs/${f.jobA}?inline=maybe`),
    status: 400,
    code: 'invalid_query',
    says: /'inline' must be true or false, got 'maybe'/,
  },
  {
    name: 'page_size=0 on the file list',
    send: (s) => get(s, '/v1/files?page_size=0'),
    status: 400,
    code: 'invalid_query',
    says: /'page_size' must be an integer from 1 to 1000, got '0'/,
  },
  { name: 'page=x on the file list', send: (s) => get(s, '/v1/files?page=x'), status: 400, code: 'invalid_query', says: /'page' must be an integer/ },
  {
    name: 'include_total=maybe on the file list',
    send: (s) => get(s, '/v1/files?include_total=maybe'),
    status: 400,
    code: 'invalid_query',
    says: /'include_total' must be true or false, got 'maybe'/,
  },
  {
    name: 'a signed URL expiry of 0 hours',
    send: (s, f) => get(s, `/v1/files/${f.fileA}/url?expiry=0`),
    status: 400,
    code: 'invalid_query',
    says: /'expiry' must be an integer from 1 to 168, got '0'/,
  },
  {
    name: 'a signed URL expiry of 169 hours',
    send: (s, f) => get(s, `/v1/files/${f.fileA}/url?expiry=169`),
    status: 400,
    code: 'invalid_query',
    says: /'expiry' must be an integer from 1 to 168, got '169'/,
  },
  {
    name: 'a job id that does not exist',
    send: (s) => get(s, '/v1/batch/jobs/00000000-0000-4000-8000-000000000000'),
    status: 404,
    code: 'batch_job_not_found',
    says: /No batch job with id '00000000-0000-4000-8000-000000000000'/,
  },
  {
    name: "another workspace's job: get",
    send: (s, f) => get(s, `/v1/batch/jobs/${f.jobA}`, 'b'),
    status: 404,
    code: 'batch_job_not_found',
    says: /No batch job with id/,
  },
  {
    name: "another workspace's job: cancel",
    send: (s, f) => get(s, `/v1/batch/jobs/${f.jobA}/cancel`, 'b', 'POST'),
    status: 404,
    code: 'batch_job_not_found',
    says: /No batch job/,
  },
  {
    name: "another workspace's job: delete",
    send: (s, f) => get(s, `/v1/batch/jobs/${f.jobA}`, 'b', 'DELETE'),
    status: 404,
    code: 'batch_job_not_found',
    says: /No batch job/,
  },
  {
    name: "another workspace's file: retrieve",
    send: (s, f) => get(s, `/v1/files/${f.fileA}`, 'b'),
    status: 404,
    code: 'file_not_found',
    says: /No file with id/,
  },
  {
    name: "another workspace's file: download",
    send: (s, f) => get(s, `/v1/files/${f.fileA}/content`, 'b'),
    status: 404,
    code: 'file_not_found',
    says: /No file/,
  },
  {
    name: "another workspace's file: delete",
    send: (s, f) => get(s, `/v1/files/${f.fileA}`, 'b', 'DELETE'),
    status: 404,
    code: 'file_not_found',
    says: /No file/,
  },
  {
    name: "another workspace's file: signed URL",
    send: (s, f) => get(s, `/v1/files/${f.fileA}/url`, 'b'),
    status: 404,
    code: 'file_not_found',
    says: /No file/,
  },
];

const TABLES: (keyof Database)[] = [
  'api_keys',
  'settings',
  'files',
  'file_chunks',
  'batch_jobs',
  'job_chunks',
  'job_metadata',
  'job_results',
  'blobs',
  'blob_pieces',
];

/** Rows in every table, files anywhere under the blob directory (staging included), job states: what "nothing stored changed" compares. */
async function snapshot(s: TestServer) {
  const counts: Record<string, number> = {};
  for (const t of TABLES) {
    const r = await s.ctx.db.kysely
      .selectFrom(t)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    counts[t] = Number(r.n);
  }
  const blobs = (dir: string): number =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? blobs(path.join(dir, e.name)) : 1), 0) : 0;
  counts.blobs = blobs(path.join(s.dataDir, 'blobs'));
  const jobs = await s.ctx.db.kysely.selectFrom('batch_jobs').select(['id', 'status']).orderBy('id').execute();
  return { counts, jobs: JSON.stringify(jobs) };
}

describe(`bad input: ${CASES.length} rejected requests, each with a clear error and nothing stored changed`, () => {
  let server: TestServer;
  let fixture: Fixture;
  before(async () => {
    server = await startTestServer({
      worker: false,
      env: { BATCHD_MAX_LINE_BYTES: '1024', BATCHD_MAX_FILE_BYTES: '65536', BATCHD_MAX_PENDING_REQUESTS: String(PENDING_LIMIT) },
    });
    const ft = new FormData();
    ft.append('file', new Blob(['{"messages": []}\n']), 'ft.jsonl');
    ft.append('purpose', 'fine-tune');
    const fineTune = ((await (await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(), body: ft })).json()) as { id: string }).id;
    const fileA = (await uploadJsonl(server, chatLines(2))).id;
    const fileB = (await uploadJsonl(server, chatLines(2), 'b')).id;
    const job = (await (await createJob(server, chat({ input_files: [fileA] }))).json()) as { id: string };
    // A job's result file, as a finished job would have (written straight to the store: no job runs here).
    const resultFile = randomUUID();
    await insertFile(
      server.ctx.db.kysely,
      {
        id: resultFile,
        workspace: 'a',
        filename: `${job.id}.jsonl`,
        bytes: 0,
        purpose: 'batch',
        sample_type: 'batch_result',
        source: 'mistral',
        num_lines: 0,
        mimetype: 'application/jsonl',
        signature: null,
        expires_at: null,
        visibility: 'workspace',
        created_at: Date.now(),
        blob_key: randomUUID(),
        hidden: 0,
        deleted_at: null,
        job_id: job.id,
        result_kind: 'output',
      },
      [],
    );
    fixture = { fileA, fileB, fineTune, resultFile, jobA: job.id };
  });
  after(() => server.stop());

  assert.ok(CASES.length >= 30);
  for (const c of CASES) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      const before = await snapshot(server);
      const res = await c.send(server, fixture);
      await assertRejected(res, c);
      assert.deepEqual(await snapshot(server), before, 'nothing stored changed');
    });
  }
});

/** Mistral's error shape with the expected status and code, and a message that names what is wrong. */
async function assertRejected(res: Response, c: Pick<Case, 'status' | 'code' | 'says' | 'detail'>) {
  const body = (await res.json()) as { object: string; code: string; message: string; type: string; detail?: { type: string; loc: unknown[] }[] };
  assert.equal(res.status, c.status, JSON.stringify(body));
  assert.equal(res.headers.get('content-type')?.split(';')[0], 'application/json');
  assert.equal(body.object, 'error');
  assert.equal(body.code, c.code);
  assert.equal(typeof body.type, 'string');
  assert.match(body.message, c.says);
  if (c.detail) assert.deepEqual({ type: body.detail?.[0]?.type, loc: body.detail?.[0]?.loc }, c.detail);
}

test('a line over the default 10 MB limit is rejected with its line number and nothing stored', async (t) => {
  const server = await startTestServer({ worker: false });
  t.after(() => server.stop());
  const before = await snapshot(server);
  const res = await uploadRaw(server, `${good('1')}\n${line({ custom_id: '2', body: { x: 'y'.repeat(10 * 1024 * 1024 + 10) } })}\n${good('3')}\n`);
  await assertRejected(res, { status: 400, code: 'invalid_batch_file', says: /line 2: is longer than the 10 MB line limit/ });
  assert.deepEqual(await snapshot(server), before, 'nothing stored changed');
});
