import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { chatLines, startTestServer, uploadJsonl, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);

/**
 * The curl tab of "List batch jobs" in Mistral's docs (mistralai/platform-docs-public,
 * src/content/en/docs/studio-api/batch-processing/page.mdx until commit eb7db8f4 of
 * 2026-07-17; still in public/llms-full.txt), verbatim.
 */
const DOCS_LIST_X_API_KEY = `curl 'https://api.mistral.ai/v1/batch/jobs?status=RUNNING&job_type=testing'\\
--header 'x-api-key: $MISTRAL_API_KEY'`;
/** The same tab since eb7db8f4 (current docs), verbatim. */
const DOCS_LIST_BEARER = `curl 'https://api.mistral.ai/v1/batch/jobs?status=RUNNING' \\
--header "Authorization: Bearer $MISTRAL_API_KEY"`;

/** Runs a docs command in bash against `base` instead of api.mistral.ai, with MISTRAL_API_KEY set; never throws. */
async function docsCurl(command: string, base: string, key: string) {
  const script = command.replaceAll('https://api.mistral.ai', base).replace(/^curl /, 'curl -s -w "\\n%{http_code}\\n" ');
  try {
    const { stdout } = await run('bash', ['-c', script], { env: { ...process.env, MISTRAL_API_KEY: key } });
    return { exit: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { exit: e.code, stdout: e.stdout };
  }
}

/** One request through node:http with exactly these headers (fetch would add its own). */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

describe('x-api-key as an alternative to Authorization: Bearer', () => {
  let server: TestServer;
  let running: string;
  before(async () => {
    server = await startTestServer({ worker: false });
    const file = (await uploadJsonl(server, chatLines(2))).id;
    const create = (metadata: Record<string, string>) =>
      server.request('POST', '/v1/batch/jobs', { input_files: [file], model: 'mistral-small-latest', endpoint: '/v1/chat/completions', metadata });
    running = (await create({ job_type: 'testing' })).body.id;
    await create({ job_type: 'other' });
    await create({ job_type: 'testing' }); // stays QUEUED: no worker
    // What the docs' filter looks for: a RUNNING job of job_type testing (no worker runs here, so set it directly).
    await server.ctx.db.kysely.updateTable('batch_jobs').set({ status: 'RUNNING' }).where('id', '=', running).execute();
    await uploadJsonl(server, chatLines(1), 'b');
  });
  after(() => server.stop());

  test("the docs' x-api-key list command, run verbatim, never sends the header: curl gets 401, then fails on the second 'URL'", async () => {
    // No space before the line-continuation backslash glues "--header" onto the URL, so
    // 'x-api-key: $MISTRAL_API_KEY' becomes a second URL (single-quoted: not even expanded).
    const { exit, stdout } = await docsCurl(DOCS_LIST_X_API_KEY, server.url, server.keys.a);
    assert.equal(exit, 3, 'curl: (3) URL using bad/illegal format');
    const [body, status] = stdout.trim().split('\n');
    assert.equal(status, '401');
    assert.match(JSON.parse(body!).message, /send your API key as "Authorization: Bearer <key>" or "x-api-key: <key>"/);
  });

  test("the docs' x-api-key list command with its two shell slips fixed lists the RUNNING testing job", async () => {
    const fixed = DOCS_LIST_X_API_KEY.replace("'\\\n", "' \\\n").replace("'x-api-key: $MISTRAL_API_KEY'", '"x-api-key: $MISTRAL_API_KEY"');
    const { exit, stdout } = await docsCurl(fixed, server.url, server.keys.a);
    assert.equal(exit, 0);
    const [body, status] = stdout.trim().split('\n');
    assert.equal(status, '200', body);
    const list = JSON.parse(body!);
    assert.deepEqual([list.total, list.data.map((j: { id: string }) => j.id)], [1, [running]]);
  });

  test("the current docs' Bearer list command answers the same list", async () => {
    const { exit, stdout } = await docsCurl(DOCS_LIST_BEARER, server.url, server.keys.a);
    assert.equal(exit, 0);
    const [body, status] = stdout.trim().split('\n');
    assert.equal(status, '200', body);
    assert.deepEqual(
      JSON.parse(body!).data.map((j: { id: string }) => j.id),
      [running],
    );
  });

  test('x-api-key alone authenticates (any header-name case) and scopes to its workspace', async () => {
    for (const name of ['x-api-key', 'X-API-Key', 'X-Api-Key']) {
      const a = await rawGet(`${server.url}/v1/files`, { [name]: server.keys.a });
      assert.equal(a.status, 200, name);
      const b = await rawGet(`${server.url}/v1/files`, { [name]: server.keys.b });
      assert.equal(b.status, 200, name);
      assert.equal(a.body.total, 1);
      assert.equal(b.body.total, 1);
      assert.notEqual(a.body.data[0].id, b.body.data[0].id, 'each key sees only its own workspace');
    }
    const padded = await rawGet(`${server.url}/v1/batch/jobs`, { 'x-api-key': `  ${server.keys.a} ` });
    assert.equal(padded.status, 200, 'surrounding spaces are not part of the key');
  });

  test('an upload and a job create authenticate with x-api-key too', async () => {
    const form = new FormData();
    form.append('file', new Blob([`${JSON.stringify(chatLines(1)[0])}\n`]), 'x.jsonl');
    form.append('purpose', 'batch');
    const up = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: { 'x-api-key': server.keys.a }, body: form });
    assert.equal(up.status, 200);
    const file = (await up.json()) as { id: string };
    const job = await fetch(`${server.url}/v1/batch/jobs`, {
      method: 'POST',
      headers: { 'x-api-key': server.keys.a, 'content-type': 'application/json' },
      body: JSON.stringify({ input_files: [file.id], model: 'mistral-small-latest', endpoint: '/v1/chat/completions' }),
    });
    assert.equal(job.status, 200);
  });

  test('both headers naming the same key are accepted', async () => {
    const res = await rawGet(`${server.url}/v1/files`, { authorization: `Bearer ${server.keys.a}`, 'x-api-key': server.keys.a });
    assert.equal(res.status, 200);
  });

  const refused: [string, () => Record<string, string>, RegExp][] = [
    ['x-api-key with an unknown key', () => ({ 'x-api-key': 'not-a-key' }), /unknown API key/],
    ['an empty x-api-key', () => ({ 'x-api-key': '' }), /x-api-key header must be the API key alone/],
    ['an x-api-key of two words', () => ({ 'x-api-key': 'key-a key-b' }), /x-api-key header must be the API key alone/],
    ['x-api-key with a "Bearer " prefix', () => ({ 'x-api-key': `Bearer ${server.keys.a}` }), /x-api-key header must be the API key alone/],
    [
      'Authorization and x-api-key naming two valid keys of different workspaces',
      () => ({ authorization: `Bearer ${server.keys.a}`, 'x-api-key': server.keys.b }),
      /name different keys/,
    ],
    ['a valid Bearer with an unknown x-api-key', () => ({ authorization: `Bearer ${server.keys.a}`, 'x-api-key': 'not-a-key' }), /name different keys/],
    [
      'a malformed Authorization beside a valid x-api-key',
      () => ({ authorization: `Token ${server.keys.a}`, 'x-api-key': server.keys.a }),
      /must be "Bearer <key>"/,
    ],
  ];
  for (const [name, headers, says] of refused) {
    test(`${name} → 401 in the same error body`, async () => {
      for (const url of ['/v1/files', '/v1/batch/jobs', '/v1/models']) {
        const res = await rawGet(`${server.url}${url}`, headers());
        assert.equal(res.status, 401, url);
        assert.deepEqual([res.body.object, res.body.type, res.body.code], ['error', 'authentication_error', 'unauthorized']);
        assert.match(res.body.message, says);
      }
    });
  }
});
