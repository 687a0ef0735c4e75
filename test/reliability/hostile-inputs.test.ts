import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chatLines, startTestServer, uploadJsonl, type TestServer } from '../helpers/server.js';

interface Hostile {
  name: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | FormData;
  /** 'reject': a 4xx with a message; 'harmless': answered (2xx or 4xx) without effect. */
  expect: 'reject' | 'harmless';
}

const INJECTIONS = [
  "' OR '1'='1",
  '"; DROP TABLE batch_jobs; --',
  '../../../../etc/passwd',
  '%2e%2e%2f%2e%2e%2f',
  '\u0000',
  '🧀'.repeat(50),
  '<script>alert(1)</script>',
  'x'.repeat(300),
  '${jndi:ldap://x}',
  'NaN',
];

function multipart(content: string | Uint8Array, fields: Record<string, string> = { purpose: 'batch' }) {
  const f = new FormData();
  f.append('file', new Blob([content]), 'h.jsonl');
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

function corpus(ids: { file: string; job: string }): Hostile[] {
  const cases: Hostile[] = [];
  const json = (name: string, body: unknown, url = '/v1/batch/jobs', method = 'POST'): Hostile => ({
    name,
    method,
    url,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    expect: 'reject',
  });
  const base = { endpoint: '/v1/chat/completions', model: 'mistral-small-latest', input_files: [ids.file] };
  // Wrong types in every field of a job creation.
  const wrong: Record<string, unknown[]> = {
    input_files: ['x', 5, {}, [5], [null], [[]]],
    requests: ['x', [1], [null], [{ body: [] }], [{ custom_id: {}, body: {} }]],
    endpoint: [5, null, [], '', '/v1/chat/completions/../files'],
    model: [5, [], {}, ''],
    metadata: [[], 'x', { a: {} }, { a: null }, { '': 'v' }, Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))],
    timeout_hours: [null, true, [], -1, 1e10, '1', 0.5],
    agent_id: [5, {}],
  };
  for (const [field, values] of Object.entries(wrong)) {
    for (const v of values) {
      const body = field === 'requests' ? { endpoint: base.endpoint, model: base.model, requests: v } : { ...base, [field]: v };
      cases.push(json(`${field} = ${JSON.stringify(v).slice(0, 40)}`, body));
    }
  }
  cases.push(json('an unknown field', { ...base, callback_url: 'http://x' }));
  cases.push(json('a body that is an array', [base]));
  cases.push(json('a body that is a string', '"hello"'));
  cases.push(json('a body that is null', 'null'));
  cases.push(json('truncated JSON', '{"endpoint":'));
  cases.push(json('JSON nested 100,000 deep', '['.repeat(100_000) + ']'.repeat(100_000)));
  cases.push({
    name: 'a create with a text/plain body',
    method: 'POST',
    url: '/v1/batch/jobs',
    headers: { 'content-type': 'text/plain' },
    body: 'hi',
    expect: 'reject',
  });
  // Hostile uploads.
  const up = (name: string, content: string | Uint8Array, fields?: Record<string, string>): Hostile => ({
    name,
    method: 'POST',
    url: '/v1/files',
    body: multipart(content, fields),
    expect: 'reject',
  });
  cases.push(
    up(
      'random bytes',
      Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256),
    ),
  );
  cases.push(up('a zero-byte file', ''));
  cases.push(up('a line of JSON nested 200,000 deep', `{"custom_id":"1","body":${'['.repeat(200_000)}${']'.repeat(200_000)}}\n`));
  cases.push(up('NaN and Infinity literals', '{"custom_id":"1","body":{"x":NaN}}\n'));
  cases.push(up('a raw control character in a string', '{"custom_id":"1","body":{"x":"a\u0001b"}}\n'));
  cases.push(up('a lone UTF-8 continuation byte', new Uint8Array([0x7b, 0x7d, 0x80, 0x0a])));
  cases.push(up('an overlong UTF-8 encoding', new Uint8Array([...Buffer.from('{"custom_id":"'), 0xc0, 0xaf, ...Buffer.from('","body":{}}\n')])));
  cases.push(up('a UTF-16 file', Buffer.from('\ufeff{"custom_id":"1","body":{}}\n', 'utf16le')));
  cases.push(up('a batch file with purpose as an array', `${JSON.stringify(chatLines(1)[0])}\n`, { purpose: '["batch"]' }));
  cases.push(up('an expiry of 1e309', `${JSON.stringify(chatLines(1)[0])}\n`, { purpose: 'batch', expiry: '1e309' }));
  cases.push({
    name: 'a multipart body without a boundary',
    method: 'POST',
    url: '/v1/files',
    headers: { 'content-type': 'multipart/form-data' },
    body: 'garbage',
    expect: 'reject',
  });
  cases.push({
    name: 'a multipart body that never closes',
    method: 'POST',
    url: '/v1/files',
    headers: { 'content-type': 'multipart/form-data; boundary=zz' },
    body: '--zz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n{"body":{}}\n',
    expect: 'reject',
  });
  // Injection strings as ids and in queries.
  for (const s of INJECTIONS) {
    const id = encodeURIComponent(s);
    cases.push({ name: `file id ${JSON.stringify(s).slice(0, 30)}`, method: 'GET', url: `/v1/files/${id}`, expect: 'reject' });
    cases.push({ name: `job id ${JSON.stringify(s).slice(0, 30)}`, method: 'POST', url: `/v1/batch/jobs/${id}/cancel`, expect: 'reject' });
    cases.push({ name: `metadata filter ${JSON.stringify(s).slice(0, 30)}`, method: 'GET', url: `/v1/batch/jobs?team=${id}`, expect: 'harmless' });
    cases.push({ name: `file search ${JSON.stringify(s).slice(0, 30)}`, method: 'GET', url: `/v1/files?search=${id}`, expect: 'harmless' });
    cases.push(
      json(`metadata value ${JSON.stringify(s).slice(0, 30)}`, {
        ...base,
        metadata: { k: s.length > 512 ? s.slice(0, 513) + 'x'.repeat(513) : s, ['k'.repeat(40)]: s },
      }),
    );
  }
  // Query garbage.
  for (const q of [
    'page=-1',
    'page=abc',
    'page=1.5',
    'page_size=1000000000',
    'page_size=',
    'status=running',
    'status=QUEUED&status=NOPE',
    'created_after=2025-13-45T99:99:99Z',
    'order_by=created;drop',
    'created_by_me=yes',
    'inline=maybe',
  ]) {
    cases.push({
      name: `job list ?${q}`,
      method: 'GET',
      url: `/v1/batch/jobs${q === 'inline=maybe' ? `/${ids.job}` : ''}?${q}`,
      expect: q === 'page_size=' ? 'harmless' : 'reject',
    });
  }
  for (const q of ['page=-5', 'page_size=0', 'include_total=perhaps', 'purpose=batch&purpose=ocr'])
    cases.push({ name: `file list ?${q}`, method: 'GET', url: `/v1/files?${q}`, expect: 'reject' });
  cases.push({ name: 'signed URL expiry 0', method: 'GET', url: `/v1/files/${ids.file}/url?expiry=0`, expect: 'reject' });
  cases.push({ name: 'signed URL expiry 169', method: 'GET', url: `/v1/files/${ids.file}/url?expiry=169`, expect: 'reject' });
  cases.push({
    name: 'a signed download with a garbage signature',
    method: 'GET',
    url: `/signed/files/${ids.file}/content?workspace=a&expires=9999999999&signature=zz`,
    expect: 'reject',
  });
  // Wrong methods.
  const wrongMethods: [string, string][] = [
    ['PUT', '/v1/files'],
    ['PATCH', `/v1/files/${ids.file}`],
    ['POST', `/v1/files/${ids.file}`],
    ['PUT', `/v1/batch/jobs/${ids.job}`],
    ['GET', `/v1/batch/jobs/${ids.job}/cancel`],
    ['DELETE', '/v1/batch/jobs'],
  ];
  for (const [method, url] of wrongMethods) {
    cases.push({ name: `${method} ${url.replace(/[0-9a-f-]{36}/, '{id}')}`, method, url, expect: 'reject' });
  }
  return cases;
}

const AUTH_ROUTES: [string, string][] = [
  ['POST', '/v1/files'],
  ['GET', '/v1/files'],
  ['GET', '/v1/files/x'],
  ['DELETE', '/v1/files/x'],
  ['GET', '/v1/files/x/content'],
  ['GET', '/v1/files/x/url'],
  ['POST', '/v1/batch/jobs'],
  ['GET', '/v1/batch/jobs'],
  ['GET', '/v1/batch/jobs/x'],
  ['POST', '/v1/batch/jobs/x/cancel'],
  ['DELETE', '/v1/batch/jobs/x'],
  ['POST', '/v1/batch/jobs/x/retry'],
  ['GET', '/v1/models'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/v1/embeddings'],
  ['POST', '/v1/moderations'],
];
const BAD_AUTH: Record<string, string>[] = [
  {},
  { authorization: 'Bearer' },
  { authorization: 'Basic a2V5LWE6' },
  { authorization: 'Bearer key-a extra' },
  { authorization: `Bearer ${'k'.repeat(10_000)}` },
];

describe('hostile inputs: every one answered without a 5xx, and nothing stored changes', () => {
  let server: TestServer;
  let ids: { file: string; job: string };
  let stored: string;
  const snapshot = async () => {
    const db = server.ctx.db.kysely;
    const files = await db.selectFrom('files').select(['id', 'bytes', 'deleted_at']).orderBy('id').execute();
    const jobs = await db.selectFrom('batch_jobs').select(['id', 'status', 'metadata', 'deleted_at']).orderBy('id').execute();
    return JSON.stringify({ files, jobs });
  };
  before(async () => {
    server = await startTestServer({ worker: false, env: { BATCHD_MAX_FILE_BYTES: String(512 * 1024 * 1024) } });
    const file = await uploadJsonl(server, chatLines(3));
    const job = await server.request('POST', '/v1/batch/jobs', {
      endpoint: '/v1/chat/completions',
      model: 'mistral-small-latest',
      input_files: [file.id],
      metadata: { team: 'red' },
    });
    ids = { file: file.id, job: job.body.id };
    stored = await snapshot();
  });
  after(() => server.stop());

  test('the corpus holds at least 100 hostile inputs', () => {
    assert.ok(corpus({ file: 'f', job: 'j' }).length + AUTH_ROUTES.length * BAD_AUTH.length >= 100);
  });

  test('each hostile request gets a 4xx with a message, or is harmless; the server never fails', async () => {
    const problems: string[] = [];
    for (const c of corpus(ids)) {
      const res = await fetch(`${server.url}${c.url}`, { method: c.method, headers: { ...server.auth(), ...c.headers }, body: c.body });
      const text = await res.text();
      if (res.status >= 500) problems.push(`${c.name}: ${res.status} ${text.slice(0, 200)}`);
      else if (c.expect === 'reject') {
        let message = '';
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? '';
        } catch {
          /* reported below */
        }
        if (res.status < 400 || message.length < 8) problems.push(`${c.name}: expected a 4xx with a message, got ${res.status} ${text.slice(0, 200)}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    assert.equal(await snapshot(), stored);
  });

  test('every route refuses missing or malformed credentials with 401', async () => {
    const problems: string[] = [];
    for (const [method, url] of AUTH_ROUTES) {
      for (const headers of BAD_AUTH) {
        const res = await fetch(`${server.url}${url}`, { method, headers });
        const body = (await res.json()) as { object?: string };
        if (res.status !== 401 || body.object !== 'error') problems.push(`${method} ${url} with ${JSON.stringify(headers).slice(0, 40)}: ${res.status}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.equal(await snapshot(), stored);
  });

  test('a 600 MB upload is refused at the 512 MB limit without buffering it, and the server carries on', async () => {
    const boundary = 'bigboundary';
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/files`, {
        method: 'POST',
        headers: { ...server.auth(), 'content-type': `multipart/form-data; boundary=${boundary}` },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err) =>
        (err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err),
      );
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n`);
      const line = Buffer.from(`${JSON.stringify(chatLines(1)[0])}\n`.repeat(10_000));
      let sent = 0;
      const pump = () => {
        while (sent < 600 * 1024 * 1024) {
          sent += line.length;
          if (!req.write(line)) return void req.once('drain', pump);
        }
        req.end(`\r\n--${boundary}--\r\n`);
      };
      pump();
    });
    assert.equal(status, 413);
    assert.equal(await snapshot(), stored);
    assert.equal((await server.request('GET', `/v1/files/${ids.file}`)).status, 200);
  });

  test('concurrent cancels and deletes of one job leave it consistent', async () => {
    const job = await server.request('POST', '/v1/batch/jobs', {
      endpoint: '/v1/chat/completions',
      model: 'mistral-small-latest',
      requests: chatLines(3, 'cc'),
    });
    const id = job.body.id;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => server.request(i % 2 ? 'DELETE' : 'POST', `/v1/batch/jobs/${id}${i % 2 ? '' : '/cancel'}`)),
    );
    assert.ok(
      results.every((r) => r.status === 200 || r.status === 409 || r.status === 404),
      results.map((r) => r.status).join(','),
    );
    const after = await server.request('GET', `/v1/batch/jobs/${id}`);
    assert.equal(after.status, 200, 'an unfinished job cannot be deleted');
    assert.equal(after.body.status, 'CANCELLATION_REQUESTED');
  });

  test('a UTF-8 BOM and CRLF line ends are accepted as the same requests', async () => {
    const lines = chatLines(3, 'bom').map((l) => JSON.stringify(l));
    const form = multipart(`\ufeff${lines.join('\r\n')}\r\n`);
    const res = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(), body: form });
    const body = (await res.json()) as { num_lines: number; id: string };
    assert.equal(res.status, 200);
    assert.equal(body.num_lines, 3);
    await server.request('DELETE', `/v1/files/${body.id}`);
  });
});
