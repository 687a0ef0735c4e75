import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chatLines, startTestServer, uploadJsonl, type TestServer } from '../../helpers/server.js';
import { openAiChatLines } from './helpers.js';

interface Fixture {
  /** An OpenAI-form batch input of workspace a. */
  input: string;
  /** A file of purpose fine-tune. */
  fineTune: string;
  /** A batch created through the Mistral API (not visible to OpenAI's view). */
  mistralBatch: string;
}
interface Case {
  name: string;
  send: (s: TestServer, f: Fixture) => Promise<Response>;
  status: number;
  code: string;
  param?: string | null;
  /** What the message must name. */
  says: RegExp;
  /** A path both APIs share: it answers in the client's shape, Mistral's unless the request says it is OpenAI's SDK (`openAiSdk`). */
  shared?: true;
}

/** What every official OpenAI SDK sends (dialects/openai/client.ts): the shared paths then answer in OpenAI's shape. */
const OPENAI_SDK = { 'user-agent': 'OpenAI/JS 7.55.0' };
const asOpenAiSdk = (s: TestServer) => ({ ...s.auth(), ...OPENAI_SDK });
const responses = (s: TestServer, body: Record<string, unknown>) => json(s, 'POST', '/v1/responses', { model: 'mistral-small-latest', ...body });

const json = (s: TestServer, method: string, url: string, body?: unknown, headers: Record<string, string> = s.auth()) =>
  fetch(`${s.url}${url}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
const create = (s: TestServer, body: unknown) => json(s, 'POST', '/v1/batches', body);
const batch = (f: Fixture, extra: Record<string, unknown> = {}) => ({
  input_file_id: f.input,
  endpoint: '/v1/chat/completions',
  completion_window: '24h',
  ...extra,
});

/** Malformed OpenAI requests: each gets a clear 4xx in OpenAI's error shape, naming the field. */
const CASES: Case[] = [
  {
    name: 'no body',
    send: (s) => json(s, 'POST', '/v1/batches'),
    status: 422,
    code: 'validation_error',
    param: 'input_file_id',
    says: /input_file_id is required/,
  },
  {
    name: 'missing endpoint',
    send: (s, f) => create(s, { input_file_id: f.input, completion_window: '24h' }),
    status: 422,
    code: 'validation_error',
    param: 'endpoint',
    says: /endpoint is required/,
  },
  { name: 'unknown field', send: (s, f) => create(s, batch(f, { model: 'x' })), status: 422, code: 'validation_error', param: 'model', says: /'model'/ },
  {
    name: 'endpoint batchd does not run',
    send: (s, f) => create(s, batch(f, { endpoint: '/v1/images/generations' })),
    status: 400,
    code: 'batch_endpoint_not_supported',
    param: 'endpoint',
    says: /\/v1\/images\/generations.*\/v1\/chat\/completions/,
  },
  {
    name: 'completion_window other than 24h',
    send: (s, f) => create(s, batch(f, { completion_window: '1h' })),
    status: 400,
    code: 'invalid_completion_window',
    param: 'completion_window',
    says: /"24h"/,
  },
  {
    name: 'metadata with 17 keys',
    send: (s, f) => create(s, batch(f, { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) })),
    status: 400,
    code: 'invalid_metadata',
    param: 'metadata',
    says: /17 keys; at most 16/,
  },
  {
    name: 'metadata value not a string',
    send: (s, f) => create(s, batch(f, { metadata: { a: 1 } })),
    status: 400,
    code: 'invalid_metadata',
    param: 'metadata',
    says: /metadata\['a'\] must be a string/,
  },
  {
    name: 'metadata key over 64 characters',
    send: (s, f) => create(s, batch(f, { metadata: { ['k'.repeat(65)]: 'v' } })),
    status: 400,
    code: 'invalid_metadata',
    param: 'metadata',
    says: /longer than 64/,
  },
  {
    name: 'unknown input file',
    send: (s, f) => create(s, batch(f, { input_file_id: 'file-abc' })),
    status: 404,
    code: 'file_not_found',
    param: 'input_file_id',
    says: /file-abc/,
  },
  {
    name: 'input file of another purpose',
    send: (s, f) => create(s, batch(f, { input_file_id: f.fineTune })),
    status: 400,
    code: 'invalid_input_file',
    param: 'input_file_id',
    says: /purpose 'fine-tune'/,
  },
  { name: 'body not JSON', send: (s) => json(s, 'POST', '/v1/batches', '{"input_file_id":'), status: 400, code: 'invalid_json', says: /not valid JSON/ },
  { name: 'no API key', send: (s) => json(s, 'GET', '/v1/batches', undefined, {}), status: 401, code: 'unauthorized', says: /key/i },
  { name: 'malformed batch id', send: (s) => json(s, 'GET', '/v1/batches/123'), status: 404, code: 'batch_job_not_found', param: 'batch_id', says: /'123'/ },
  {
    name: 'a Mistral job’s id in OpenAI’s form',
    send: (s, f) => json(s, 'GET', `/v1/batches/${f.mistralBatch}`),
    status: 404,
    code: 'batch_job_not_found',
    says: /No batch/,
  },
  {
    name: 'cancel of an unknown batch',
    send: (s) => json(s, 'POST', `/v1/batches/batch_${'0'.repeat(32)}/cancel`),
    status: 404,
    code: 'batch_job_not_found',
    says: /No batch/,
  },
  { name: 'list limit 0', send: (s) => json(s, 'GET', '/v1/batches?limit=0'), status: 400, code: 'invalid_query', param: 'limit', says: /from 1 to 100/ },
  { name: 'list limit not a number', send: (s) => json(s, 'GET', '/v1/batches?limit=ten'), status: 400, code: 'invalid_query', param: 'limit', says: /'ten'/ },
  {
    name: 'list after an unknown batch',
    send: (s) => json(s, 'GET', '/v1/batches?after=batch_nope'),
    status: 400,
    code: 'invalid_query',
    param: 'after',
    says: /batch_nope/,
  },
  {
    name: 'file list after an unknown file',
    send: (s) => json(s, 'GET', '/v1/files?after=file-nope&limit=2'),
    status: 400,
    code: 'invalid_query',
    param: 'after',
    says: /file-nope/,
    shared: true,
  },
  {
    name: 'file list order sideways',
    send: (s) => json(s, 'GET', '/v1/files?order=sideways'),
    status: 400,
    code: 'invalid_query',
    param: 'order',
    says: /asc or desc/,
    shared: true,
  },
  {
    name: 'completions with logprobs',
    send: (s) => json(s, 'POST', '/v1/completions', { model: 'codestral-latest', prompt: 'x', logprobs: 2 }),
    status: 400,
    code: 'invalid_request',
    param: 'logprobs',
    says: /log probabilities/,
  },
  {
    name: 'completions with echo',
    send: (s) => json(s, 'POST', '/v1/completions', { model: 'codestral-latest', prompt: 'x', echo: true }),
    status: 400,
    code: 'invalid_request',
    param: 'echo',
    says: /echo/,
  },
  {
    name: 'completions with several prompts',
    send: (s) => json(s, 'POST', '/v1/completions', { model: 'codestral-latest', prompt: ['a', 'b'] }),
    status: 400,
    code: 'invalid_request',
    param: 'prompt',
    says: /one prompt/,
  },
  {
    name: 'completions with n 2',
    send: (s) => json(s, 'POST', '/v1/completions', { model: 'codestral-latest', prompt: 'a', n: 2 }),
    status: 400,
    code: 'invalid_request',
    param: 'n',
    says: /n other than 1/,
  },
  ...(['/v1/completions', '/v1/responses'] as const).map((path): Case => ({
    name: `${path} without model`,
    send: (s) => json(s, 'POST', path, path === '/v1/completions' ? { prompt: 'a' } : { input: 'x' }),
    status: 422,
    code: 'missing_model',
    param: 'model',
    says: /model is required/,
  })),
  {
    name: 'completions on an unknown model',
    send: (s) => json(s, 'POST', '/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'a' }),
    status: 400,
    code: 'model_not_found',
    param: 'model',
    says: /gpt-3.5-turbo-instruct/,
  },
  {
    name: 'OpenAI SDK: file list after an unknown file',
    send: (s) => json(s, 'GET', '/v1/files?after=file-nope&limit=2', undefined, asOpenAiSdk(s)),
    status: 400,
    code: 'invalid_query',
    param: 'after',
    says: /file-nope/,
  },
  {
    name: 'OpenAI SDK: an unknown file',
    send: (s) => json(s, 'GET', '/v1/files/file-nope', undefined, asOpenAiSdk(s)),
    status: 404,
    code: 'file_not_found',
    says: /file-nope/,
  },
  {
    name: 'OpenAI SDK: an upload that is not multipart',
    send: (s) => json(s, 'POST', '/v1/files', { purpose: 'batch' }, asOpenAiSdk(s)),
    status: 415,
    code: 'unsupported_media_type',
    says: /multipart\/form-data/,
  },
  {
    name: 'OpenAI SDK: chat on an unknown model',
    send: (s) => json(s, 'POST', '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, asOpenAiSdk(s)),
    status: 400,
    code: 'model_not_found',
    param: 'model',
    says: /gpt-4o/,
  },
  {
    name: 'OpenAI SDK: embeddings without model',
    send: (s) => json(s, 'POST', '/v1/embeddings', { input: 'x' }, asOpenAiSdk(s)),
    status: 422,
    code: 'missing_model',
    param: 'model',
    says: /model is required/,
  },
  {
    name: 'another client: chat on an unknown model, in Mistral’s shape',
    send: (s) => json(s, 'POST', '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
    status: 400,
    code: 'model_not_found',
    param: 'model',
    says: /gpt-4o/,
    shared: true,
  },
  {
    name: 'responses with previous_response_id',
    send: (s) => responses(s, { input: 'x', previous_response_id: 'resp_1' }),
    status: 400,
    code: 'invalid_request',
    param: 'previous_response_id',
    says: /whole conversation/,
  },
  {
    name: 'responses with store: true',
    send: (s) => responses(s, { input: 'x', store: true }),
    status: 400,
    code: 'invalid_request',
    param: 'store',
    says: /does not store responses/,
  },
  {
    name: 'responses in the background',
    send: (s) => responses(s, { input: 'x', background: true }),
    status: 400,
    code: 'invalid_request',
    param: 'background',
    says: /background/,
  },
  {
    name: 'responses with a built-in tool',
    send: (s) =>
      responses(s, {
        input: 'x',
        tools: [
          { type: 'function', name: 'f' },
          { type: 'file_search', vector_store_ids: ['vs'] },
        ],
      }),
    status: 400,
    code: 'invalid_request',
    param: 'tools.1.type',
    says: /built-in tools \("file_search"\)/,
  },
  {
    name: 'responses with a reasoning input item',
    send: (s) => responses(s, { input: [{ type: 'reasoning', summary: [] }] }),
    status: 400,
    code: 'invalid_request',
    param: 'input.0.type',
    says: /"reasoning"/,
  },
  {
    name: 'responses with an unknown field',
    send: (s) => responses(s, { input: 'x', temprature: 1 }),
    status: 400,
    code: 'invalid_request',
    param: 'temprature',
    says: /not a Responses API parameter/,
  },
  { name: 'responses without input', send: (s) => responses(s, { instructions: 'x' }), status: 400, code: 'invalid_request', param: 'input', says: /required/ },
  {
    name: 'responses with text.format of another type',
    send: (s) => responses(s, { input: 'x', text: { format: { type: 'grammar' } } }),
    status: 400,
    code: 'invalid_request',
    param: 'text.format.type',
    says: /json_schema/,
  },
];

describe('bad input to OpenAI’s routes: a clear 4xx in OpenAI’s error shape (the shared routes: in the client’s)', () => {
  let server: TestServer;
  let fixture: Fixture;
  before(async () => {
    server = await startTestServer({ worker: false });
    const input = await uploadJsonl(server, openAiChatLines(1, 'mistral-small-latest'));
    const form = new FormData();
    form.append('file', new Blob(['{"messages": []}\n']), 'ft.jsonl');
    form.append('purpose', 'fine-tune');
    const fineTune = (await (await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(), body: form })).json()) as { id: string };
    const mistralFile = await uploadJsonl(server, chatLines(1));
    const job = await server.request('POST', '/v1/batch/jobs', {
      input_files: [mistralFile.id],
      model: 'mistral-small-latest',
      endpoint: '/v1/chat/completions',
    });
    fixture = { input: input.id, fineTune: fineTune.id, mistralBatch: `batch_${(job.body.id as string).replace(/-/g, '')}` };
  });
  after(() => server.stop());

  for (const c of CASES) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      const res = await c.send(server, fixture);
      const raw = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, c.status, JSON.stringify(raw));
      if (c.shared) assert.equal(raw.object, 'error');
      const { object: _, ...fields } = raw;
      const body = (c.shared ? { error: fields } : raw) as { error?: { message: string; type: string; param: string | null; code: string | null } };
      assert.deepEqual(Object.keys(body), ['error'], `OpenAI's shape: ${JSON.stringify(body)}`);
      assert.deepEqual(Object.keys(body.error!).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error!.code, c.code);
      if (c.param !== undefined) assert.equal(body.error!.param, c.param);
      assert.match(body.error!.message, c.says);
      assert.equal(typeof body.error!.type, 'string');
    });
  }
});
