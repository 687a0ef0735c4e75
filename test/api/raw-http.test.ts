import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chatLines, startChildTestServer, startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);

/** `curl -s` with the status and content-type appended, as the docs' examples run it. */
async function curl(...args: string[]) {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code} %{content_type}', ...args]);
  const lines = stdout.split('\n');
  const [status, contentType] = lines.pop()!.split(' ');
  return { status: Number(status), contentType: contentType ?? '', body: lines.join('\n') };
}

/** A request through node:http with exactly the given headers (fetch adds its own). */
function rawRequest(url: string, method: string, headers: Record<string, string | number>, body?: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const isJson = (ct: string | null | undefined) => (ct ?? '').split(';')[0]!.trim() === 'application/json';

/** What the SDK cannot express: the docs' curl commands, content types, headers, auth failures. */
describe('raw HTTP contract', () => {
  let server: TestServer;
  let input: string;
  const bearer = () => `Authorization: Bearer ${server.keys.a}`;
  before(async () => {
    server = await startTestServer({ worker: false });
    input = path.join(server.dataDir, 'batch.jsonl');
    fs.writeFileSync(
      input,
      chatLines(3)
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
  });
  after(() => server.stop());

  test("the docs' curl flow: upload, create, get, list, cancel, download, all answering exactly 200", async () => {
    const up = await curl(`${server.url}/v1/files`, '-H', bearer(), '-F', 'purpose=batch', '-F', `file=@${input}`);
    assert.equal(up.status, 200, up.body);
    assert.ok(isJson(up.contentType), up.contentType);
    const file = JSON.parse(up.body);
    assert.deepEqual(
      [file.filename, file.num_lines, file.bytes, file.purpose, file.sample_type, file.source],
      ['batch.jsonl', 3, fs.statSync(input).size, 'batch', 'batch_request', 'upload'],
    );
    const create = await curl(
      `${server.url}/v1/batch/jobs`,
      '-H',
      bearer(),
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({ model: 'mistral-small-latest', input_files: [file.id], endpoint: '/v1/chat/completions', metadata: { job_type: 'testing' } }),
    );
    assert.equal(create.status, 200, create.body);
    const job = JSON.parse(create.body);
    assert.deepEqual([job.status, job.total_requests, job.timeout_hours], ['QUEUED', 3, 24]);
    const get = await curl(`${server.url}/v1/batch/jobs/${job.id}`, '-H', bearer());
    assert.equal(get.status, 200);
    assert.equal(JSON.parse(get.body).id, job.id);
    // The docs filter with a single status value and a metadata JSON object.
    const list = await curl(
      '-G',
      `${server.url}/v1/batch/jobs`,
      '-H',
      bearer(),
      '--data-urlencode',
      'status=QUEUED',
      '--data-urlencode',
      'metadata={"job_type":"testing"}',
    );
    assert.equal(list.status, 200);
    assert.deepEqual(
      JSON.parse(list.body).data.map((j: { id: string }) => j.id),
      [job.id],
    );
    // curl -X POST with no data: no body, no content-type.
    const cancel = await curl('-X', 'POST', `${server.url}/v1/batch/jobs/${job.id}/cancel`, '-H', bearer());
    assert.equal(cancel.status, 200, cancel.body);
    assert.equal(JSON.parse(cancel.body).status, 'CANCELLATION_REQUESTED');
    const dl = await curl(`${server.url}/v1/files/${file.id}/content`, '-H', bearer());
    assert.equal(dl.status, 200);
    assert.equal(dl.contentType, 'application/octet-stream');
    assert.equal(dl.body, fs.readFileSync(input, 'utf8'));
  });

  test('cancel exactly as the SDK sends it (content-length 0, no content-type) and with a JSON content-type and empty body', async () => {
    const variants: Record<string, string | number>[] = [
      { 'content-length': 0 },
      { 'content-length': 0, 'content-type': 'application/json' },
      { 'content-type': 'application/json; charset=utf-8', 'content-length': 0 },
    ];
    for (const headers of variants) {
      const job = await server.request('POST', '/v1/batch/jobs', { model: 'mistral-small-latest', endpoint: '/v1/chat/completions', requests: chatLines(1) });
      const res = await rawRequest(`${server.url}/v1/batch/jobs/${job.body.id}/cancel`, 'POST', { ...server.auth(), cookie: '', ...headers });
      assert.equal(res.status, 200, `${JSON.stringify(headers)}: ${res.body}`);
      assert.equal(JSON.parse(res.body).status, 'CANCELLATION_REQUESTED');
    }
  });

  test('every successful call answers exactly 200 with a JSON content-type, except the octet-stream download', async () => {
    const form = new FormData();
    form.append('file', new Blob([fs.readFileSync(input)]), 'x.jsonl');
    form.append('purpose', 'batch');
    const calls: [string, () => Promise<Response>][] = [];
    const send = (method: string, url: string, body?: unknown) => () =>
      fetch(`${server.url}${url}`, {
        method,
        headers: { ...server.auth(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const upload = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(), body: form });
    assert.equal(upload.status, 200);
    assert.ok(isJson(upload.headers.get('content-type')));
    const file = (await upload.json()) as { id: string };
    const created = await send('POST', '/v1/batch/jobs', { model: 'mistral-small-latest', endpoint: '/v1/chat/completions', input_files: [file.id] })();
    assert.equal(created.status, 200);
    const job = (await created.json()) as { id: string };
    calls.push(
      ['GET /v1/files', send('GET', '/v1/files')],
      ['GET /v1/files/{id}', send('GET', `/v1/files/${file.id}`)],
      ['GET /v1/files/{id}/url', send('GET', `/v1/files/${file.id}/url?expiry=24`)],
      ['GET /v1/batch/jobs', send('GET', '/v1/batch/jobs')],
      ['GET /v1/batch/jobs/{id}', send('GET', `/v1/batch/jobs/${job.id}`)],
      ['GET /v1/batch/jobs/{id}?inline=true', send('GET', `/v1/batch/jobs/${job.id}?inline=true`)],
      ['POST /v1/batch/jobs/{id}/cancel', send('POST', `/v1/batch/jobs/${job.id}/cancel`)],
      ['GET /v1/models', send('GET', '/v1/models')],
    );
    for (const [name, call] of calls) {
      const res = await call();
      assert.equal(res.status, 200, name);
      assert.ok(isJson(res.headers.get('content-type')), `${name}: ${res.headers.get('content-type')}`);
      await res.arrayBuffer();
    }
    const dl = await send('GET', `/v1/files/${file.id}/content`)();
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get('content-type'), 'application/octet-stream');
    assert.equal(await dl.text(), fs.readFileSync(input, 'utf8'));
    await server.ctx.db.kysely.updateTable('batch_jobs').set({ status: 'CANCELLED' }).where('id', '=', job.id).execute();
    for (const [name, call] of [
      ['DELETE /v1/batch/jobs/{id}', send('DELETE', `/v1/batch/jobs/${job.id}`)],
      ['DELETE /v1/files/{id}', send('DELETE', `/v1/files/${file.id}`)],
    ] as const) {
      const res = await call();
      assert.equal(res.status, 200, name);
      assert.ok(isJson(res.headers.get('content-type')), name);
      assert.equal(((await res.json()) as { deleted: boolean }).deleted, true, name);
    }
  });

  test('an empty Cookie header, as the TypeScript SDK sends, is tolerated', async () => {
    const res = await rawRequest(`${server.url}/v1/files`, 'GET', { ...server.auth(), cookie: '', accept: 'application/json' });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).object, 'list');
  });

  const authCases: [string, Record<string, string>, RegExp][] = [
    ['no Authorization header', {}, /send your API key/],
    ['an unknown key', { authorization: 'Bearer not-a-key' }, /unknown API key/],
    ['a malformed header', { authorization: 'Token key-a' }, /must be "Bearer <key>"/],
    ['Basic credentials', { authorization: `Basic ${Buffer.from('key-a:').toString('base64')}` }, /must be "Bearer <key>"/],
    ['an empty bearer', { authorization: 'Bearer ' }, /must be "Bearer <key>"/],
    ['a bearer with two tokens', { authorization: 'Bearer key-a key-b' }, /must be "Bearer <key>"/],
  ];
  for (const [name, headers, says] of authCases) {
    test(`${name} → 401 in Mistral's error shape on every route`, async () => {
      for (const [method, url] of [
        ['GET', '/v1/files'],
        ['POST', '/v1/files'],
        ['GET', '/v1/batch/jobs'],
        ['POST', '/v1/batch/jobs'],
        ['POST', '/v1/batch/jobs/x/cancel'],
        ['DELETE', '/v1/files/x'],
        ['GET', '/v1/models'],
        ['POST', '/v1/chat/completions'],
      ]) {
        const res = await fetch(`${server.url}${url}`, { method, headers: { ...headers, cookie: '' } });
        assert.equal(res.status, 401, `${method} ${url}`);
        assert.ok(isJson(res.headers.get('content-type')));
        const body = (await res.json()) as Record<string, unknown>;
        assert.deepEqual([body.object, body.code, body.type], ['error', 'unauthorized', 'authentication_error']);
        assert.match(String(body.message), says);
      }
    });
  }

  test('wrong methods get 405 with Allow, unknown routes 404, health 200 without a key', async () => {
    const res = await fetch(`${server.url}/v1/batch/jobs`, { method: 'PUT', headers: server.auth() });
    assert.equal(res.status, 405);
    assert.match(res.headers.get('allow')!, /POST/);
    const missing = await fetch(`${server.url}/v1/nothing`, { headers: server.auth() });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { object: string }).object, 'error');
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });

  test('a retried create with the same Idempotency-Key returns the first job', async () => {
    const send = () =>
      fetch(`${server.url}/v1/batch/jobs`, {
        method: 'POST',
        headers: { ...server.auth(), 'content-type': 'application/json', 'idempotency-key': 'once-only' },
        body: JSON.stringify({ model: 'mistral-small-latest', endpoint: '/v1/chat/completions', requests: chatLines(1) }),
      });
    const [a, b] = [await (await send()).json(), await (await send()).json()] as { id: string }[];
    assert.equal(a!.id, b!.id);
  });
});

describe('the batchd CLI as a child process', () => {
  test('serve with no keys configured generates one for workspace "default" that authenticates', async (t) => {
    const child = await startChildTestServer({ seedKeys: false, args: ['--no-worker'] });
    t.after(() => child.stop());
    assert.ok(child.pid > 0);
    assert.match(child.keys.default!, /^bd-/);
    assert.equal(fs.statSync(path.join(child.dataDir, 'default-api-key')).mode & 0o777, 0o600);
    const ok = await fetch(`${child.url}/v1/files`, { headers: { authorization: `Bearer ${child.keys.default}` } });
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${child.url}/v1/files`, { headers: { authorization: 'Bearer key-a' } })).status, 401);
  });

  test('serve with BATCHD_API_KEYS seeds two workspaces that cannot see each other', async (t) => {
    const child = await startChildTestServer({ args: ['--no-worker'] });
    t.after(() => child.stop());
    assert.ok(!fs.existsSync(path.join(child.dataDir, 'default-api-key')), 'no key generated when keys are configured');
    const form = new FormData();
    form.append('file', new Blob([`${JSON.stringify(chatLines(1)[0])}\n`]), 'in.jsonl');
    form.append('purpose', 'batch');
    const up = await fetch(`${child.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${child.keys.a}` }, body: form });
    assert.equal(up.status, 200);
    const { id } = (await up.json()) as { id: string };
    assert.equal((await fetch(`${child.url}/v1/files/${id}`, { headers: { authorization: `Bearer ${child.keys.a}` } })).status, 200);
    assert.equal((await fetch(`${child.url}/v1/files/${id}`, { headers: { authorization: `Bearer ${child.keys.b}` } })).status, 404);
  });
});
