import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../helpers/server.js';

interface Case {
  name: string;
  method?: string;
  path: string;
  body?: unknown;
  /** Headers instead of the default x-api-key of workspace a and anthropic-version. */
  headers?: Record<string, string>;
  status: number;
  type: string;
  /** What the message must name: the field, the request index, the block. */
  says: RegExp;
}

const ask = (extra: Record<string, unknown> = {}) => ({ model: 'mistral-small-latest', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }], ...extra });
const batch = (...params: unknown[]) => ({ requests: params.map((p, i) => ({ custom_id: `r${i}`, params: p })) });
const MISSING_BATCH = 'msgbatch_00000000000000000000000000000000';

/** Malformed calls to the Anthropic routes: each gets a clear 4xx in Anthropic's error shape naming what to fix. */
const CASES: Case[] = [
  {
    name: 'no API key',
    path: '/v1/messages/batches',
    headers: { 'anthropic-version': '2023-06-01' },
    status: 401,
    type: 'authentication_error',
    says: /x-api-key/,
  },
  {
    name: 'an unknown API key',
    path: '/v1/messages/batches',
    headers: { 'x-api-key': 'not-a-key', 'anthropic-version': '2023-06-01' },
    status: 401,
    type: 'authentication_error',
    says: /unknown API key/,
  },
  {
    name: 'no anthropic-version header',
    path: '/v1/messages/batches',
    headers: { 'x-api-key': 'key-a' },
    status: 400,
    type: 'invalid_request_error',
    says: /anthropic-version: header is required/,
  },
  {
    name: 'create without requests',
    method: 'POST',
    path: '/v1/messages/batches',
    body: {},
    status: 400,
    type: 'invalid_request_error',
    says: /requests: Required/,
  },
  {
    name: 'create with no request',
    method: 'POST',
    path: '/v1/messages/batches',
    body: { requests: [] },
    status: 400,
    type: 'invalid_request_error',
    says: /requests: must hold at least one request/,
  },
  {
    name: 'a custom_id Anthropic would refuse',
    method: 'POST',
    path: '/v1/messages/batches',
    body: { requests: [{ custom_id: 'has space', params: ask() }] },
    status: 400,
    type: 'invalid_request_error',
    says: /requests\.0\.custom_id: must be 1-64 characters/,
  },
  {
    name: 'params not an object',
    method: 'POST',
    path: '/v1/messages/batches',
    body: { requests: [{ custom_id: 'a', params: 'hello' }] },
    status: 400,
    type: 'invalid_request_error',
    says: /requests\.0\.params: must be an object/,
  },
  {
    name: 'an unknown field in a request',
    method: 'POST',
    path: '/v1/messages/batches',
    body: { requests: [{ custom_id: 'a', params: ask(), extra: 1 }] },
    status: 400,
    type: 'invalid_request_error',
    says: /requests\.0: Extra inputs are not permitted: 'extra'/,
  },
  {
    name: 'a repeated custom_id',
    method: 'POST',
    path: '/v1/messages/batches',
    body: {
      requests: [
        { custom_id: 'same', params: ask() },
        { custom_id: 'same', params: ask() },
      ],
    },
    status: 400,
    type: 'invalid_request_error',
    says: /requests\[1\] repeats custom_id "same" of requests\[0\]/,
  },
  {
    name: 'a request without model',
    method: 'POST',
    path: '/v1/messages/batches',
    body: batch(ask(), { max_tokens: 8, messages: [] }),
    status: 400,
    type: 'invalid_request_error',
    says: /requests\[1\]\.params\.model: is required/,
  },
  {
    name: 'two models in one batch',
    method: 'POST',
    path: '/v1/messages/batches',
    body: batch(ask(), ask(), ask({ model: 'open-mistral-nemo' })),
    status: 400,
    type: 'invalid_request_error',
    says: /requests\[2\]\.params\.model is 'open-mistral-nemo' but requests\[0\] names 'mistral-small-latest': a batch runs one model/,
  },
  {
    name: 'an unknown model',
    method: 'POST',
    path: '/v1/messages/batches',
    body: batch(ask({ model: 'claude-nope' })),
    status: 400,
    type: 'invalid_request_error',
    says: /Unknown model 'claude-nope'/,
  },
  {
    name: 'an unknown batch id',
    path: `/v1/messages/batches/${MISSING_BATCH}`,
    status: 404,
    type: 'not_found_error',
    says: /No message batch with id 'msgbatch_0+'/,
  },
  {
    name: 'an id of the wrong form',
    path: '/v1/messages/batches/batch_123',
    status: 404,
    type: 'not_found_error',
    says: /No message batch with id 'batch_123'/,
  },
  {
    name: 'cancel an unknown batch',
    method: 'POST',
    path: `/v1/messages/batches/${MISSING_BATCH}/cancel`,
    status: 404,
    type: 'not_found_error',
    says: /No message batch/,
  },
  {
    name: 'results of an unknown batch',
    path: `/v1/messages/batches/${MISSING_BATCH}/results`,
    status: 404,
    type: 'not_found_error',
    says: /No message batch/,
  },
  {
    name: 'list with before_id and after_id',
    path: `/v1/messages/batches?before_id=${MISSING_BATCH}&after_id=${MISSING_BATCH}`,
    status: 400,
    type: 'invalid_request_error',
    says: /before_id or after_id, not both/,
  },
  {
    name: 'list after an unknown batch',
    path: `/v1/messages/batches?after_id=${MISSING_BATCH}`,
    status: 400,
    type: 'invalid_request_error',
    says: /after_id 'msgbatch_0+' is not the id of a message batch/,
  },
  { name: 'list with limit 0', path: '/v1/messages/batches?limit=0', status: 400, type: 'invalid_request_error', says: /limit/ },
  {
    name: 'message without max_tokens',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ max_tokens: undefined }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.max_tokens: is required/,
  },
  {
    name: 'message without model',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ model: undefined }),
    status: 400,
    type: 'invalid_request_error',
    says: /model: Field required/,
  },
  {
    name: 'message to an unknown model',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ model: 'claude-nope' }),
    status: 404,
    type: 'not_found_error',
    says: /model: claude-nope/,
  },
  {
    name: 'an image block',
    method: 'POST',
    path: '/v1/messages',
    body: ask({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          ],
        },
      ],
    }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.messages\.0\.content\.1: content block type 'image' is not supported by batchd/,
  },
  {
    name: 'a document block in a tool result',
    method: 'POST',
    path: '/v1/messages',
    body: ask({
      messages: [
        { role: 'user', content: 'read it' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'fetch', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'document', source: { type: 'text', data: 'x' } }] }] },
      ],
    }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.messages\.2\.content\.0\.content\.0: must be a text block .*got type 'document'/,
  },
  {
    name: 'a server tool',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.tools\.0\.type: server tool 'web_search_20250305' is not supported/,
  },
  {
    name: 'top_k',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ top_k: 5 }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.top_k: is not supported/,
  },
  {
    name: 'extended thinking',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ thinking: { type: 'enabled', budget_tokens: 1024 } }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.thinking: type 'enabled' is not supported/,
  },
  {
    name: 'an unknown role',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ messages: [{ role: 'tool', content: 'x' }] }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.messages\.0\.role: must be 'user' or 'assistant'/,
  },
  {
    name: 'an unknown field',
    method: 'POST',
    path: '/v1/messages',
    body: ask({ mcp_servers: [] }),
    status: 400,
    type: 'invalid_request_error',
    says: /body\.mcp_servers: is not supported by batchd/,
  },
  {
    name: 'a message body that is not JSON',
    method: 'POST',
    path: '/v1/messages',
    body: '{"model":',
    status: 400,
    type: 'invalid_request_error',
    says: /not valid JSON/,
  },
  {
    name: 'a batch over its body limit',
    method: 'POST',
    path: '/v1/messages/batches',
    body: batch(ask({ system: 'x'.repeat(5000) })),
    status: 413,
    type: 'request_too_large',
    says: /limit of 4096 bytes .*BATCHD_MAX_CREATE_BODY_BYTES/,
  },
  { name: 'a wrong method', method: 'PUT', path: '/v1/messages/batches', status: 405, type: 'invalid_request_error', says: /PUT is not allowed/ },
];

describe('Anthropic routes refuse bad input in Anthropic’s error shape', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { BATCHD_MAX_CREATE_BODY_BYTES: '4096' } });
  });
  after(() => server.stop());

  for (const c of CASES) {
    test(c.name, async () => {
      const headers = c.headers ?? { 'x-api-key': server.keys.a, 'anthropic-version': '2023-06-01' };
      const res = await fetch(`${server.url}${c.path}`, {
        method: c.method ?? 'GET',
        headers: { ...headers, ...(c.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
      });
      const body = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string | null };
      assert.equal(res.status, c.status, JSON.stringify(body));
      if (c.status === 405) return; // answered before routing, in the app's shape: the status and Allow header are what matter
      assert.equal(body.type, 'error', JSON.stringify(body));
      assert.equal(body.error.type, c.type);
      assert.match(body.error.message, c.says);
      assert.equal(typeof body.request_id, 'string');
      assert.deepEqual(Object.keys(body).sort(), ['error', 'request_id', 'type']);
    });
  }
});
