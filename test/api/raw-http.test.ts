import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { chatLines, startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);

/** What the SDK cannot express: the docs' curl commands, content types, headers, auth failures. */
describe('raw HTTP contract', () => {
  let server: TestServer;
  let input: string;
  before(async () => {
    server = await startTestServer({ worker: false });
    input = path.join(server.dataDir, 'batch.jsonl');
    fs.writeFileSync(input, chatLines(3).map((l) => JSON.stringify(l)).join('\n') + '\n');
  });
  after(() => server.stop());

  const curl = async (...args: string[]) => {
    const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code} %{content_type}', ...args]);
    const lines = stdout.split('\n');
    const [status, contentType] = lines.pop()!.split(' ');
    return { status: Number(status), contentType, body: lines.join('\n') };
  };

  test("the docs' curl flow: upload, create, get, cancel, download, all answering exactly 200", async () => {
    const up = await curl(`${server.url}/v1/files`, '-H', 'Authorization: Bearer key-a', '-F', 'purpose=batch', '-F', `file=@${input}`);
    assert.equal(up.status, 200);
    assert.match(up.contentType!, /^application\/json/);
    const file = JSON.parse(up.body);
    const create = await curl(`${server.url}/v1/batch/jobs`, '-H', 'Authorization: Bearer key-a', '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ model: 'mistral-small-latest', input_files: [file.id], endpoint: '/v1/chat/completions', metadata: { job_type: 'testing' } }));
    assert.equal(create.status, 200);
    const job = JSON.parse(create.body);
    assert.equal((await curl(`${server.url}/v1/batch/jobs/${job.id}`, '-H', 'Authorization: Bearer key-a')).status, 200);
    // Cancel as the SDK sends it: no body, no content-type.
    const cancel = await curl('-X', 'POST', `${server.url}/v1/batch/jobs/${job.id}/cancel`, '-H', 'Authorization: Bearer key-a');
    assert.equal(cancel.status, 200);
    assert.equal(JSON.parse(cancel.body).status, 'CANCELLATION_REQUESTED');
    const dl = await curl(`${server.url}/v1/files/${file.id}/content`, '-H', 'Authorization: Bearer key-a');
    assert.equal(dl.status, 200);
    assert.equal(dl.contentType, 'application/octet-stream');
    assert.equal(dl.body, fs.readFileSync(input, 'utf8'));
  });

  test('cancel with a JSON content-type and an empty body is accepted', async () => {
    const job = await server.request('POST', '/v1/batch/jobs', { model: 'mistral-small-latest', endpoint: '/v1/chat/completions', requests: chatLines(1) });
    const res = await fetch(`${server.url}/v1/batch/jobs/${job.body.id}/cancel`, { method: 'POST', headers: { ...server.auth(), 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
  });

  test('an empty Cookie header, as the TypeScript SDK sends, is tolerated', async () => {
    const res = await fetch(`${server.url}/v1/files`, { headers: { ...server.auth(), cookie: '' } });
    assert.equal(res.status, 200);
  });

  const authCases: [string, Record<string, string>, RegExp][] = [
    ['no Authorization header', {}, /send your API key/],
    ['an unknown key', { authorization: 'Bearer not-a-key' }, /unknown API key/],
    ['a malformed header', { authorization: 'Token key-a' }, /must be "Bearer <key>"/],
    ['an empty bearer', { authorization: 'Bearer ' }, /must be "Bearer <key>"/],
  ];
  for (const [name, headers, says] of authCases) {
    test(`${name} → 401 in Mistral's error shape`, async () => {
      for (const [method, url] of [['GET', '/v1/files'], ['POST', '/v1/batch/jobs'], ['GET', '/v1/models'], ['POST', '/v1/chat/completions']]) {
        const res = await fetch(`${server.url}${url}`, { method, headers });
        assert.equal(res.status, 401, `${method} ${url}`);
        const body = (await res.json()) as Record<string, unknown>;
        assert.equal(body.object, 'error');
        assert.equal(body.code, 'unauthorized');
        assert.match(String(body.message), says);
      }
    });
  }

  test('wrong methods get 405 with Allow, unknown routes 404, health 200 without a key', async () => {
    const res = await fetch(`${server.url}/v1/batch/jobs`, { method: 'PUT', headers: server.auth() });
    assert.equal(res.status, 405);
    assert.match(res.headers.get('allow')!, /POST/);
    assert.equal((await fetch(`${server.url}/v1/nothing`, { headers: server.auth() })).status, 404);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });

  test('a retried create with the same Idempotency-Key returns the first job', async () => {
    const send = () => fetch(`${server.url}/v1/batch/jobs`, {
      method: 'POST', headers: { ...server.auth(), 'content-type': 'application/json', 'idempotency-key': 'once-only' },
      body: JSON.stringify({ model: 'mistral-small-latest', endpoint: '/v1/chat/completions', requests: chatLines(1) }),
    });
    const [a, b] = [await (await send()).json(), await (await send()).json()] as { id: string }[];
    assert.equal(a!.id, b!.id);
  });
});
