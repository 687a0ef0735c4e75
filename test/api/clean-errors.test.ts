import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Mistral } from '@mistralai/mistralai';
import {
  chatLines,
  download,
  jsonl,
  jsonlBytes,
  startChildTestServer,
  startTestServer,
  uploadJsonl,
  waitFor,
  waitForJob,
  type TestServer,
} from '../helpers/server.js';
import { RawConnection, requestHead } from '../helpers/raw-socket.js';
import { scanJson } from '../../src/api/json-guard.js';
import { contentDisposition } from '../../src/api/content-disposition.js';

const MB = 1024 * 1024;
const ONLINE_LIMIT = 3 * MB;
const DEEP = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

/** Mistral's error body: what every refusal below must be, whatever layer refuses. */
function assertApiError(body: unknown, status: number, code: string, says?: RegExp) {
  const b = (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown>;
  assert.equal(b.object, 'error', `not the API's error shape (${status}): ${JSON.stringify(b)}`);
  assert.equal(typeof b.message, 'string');
  assert.equal(typeof b.type, 'string');
  assert.equal(b.code, code, `${status}: ${JSON.stringify(b)}`);
  if (says) assert.match(b.message as string, says);
}

/** A POST with a raw text body (already JSON), as a hostile client would send it. */
async function postText(s: TestServer, url: string, text: string, contentType = 'application/json') {
  const res = await fetch(`${s.url}${url}`, { method: 'POST', headers: { ...s.auth(), 'content-type': contentType }, body: text });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** Sends raw bytes on a fresh connection and returns the server's answer. */
async function rawExchange(url: string, bytes: string) {
  const conn = await RawConnection.open(url);
  try {
    conn.write(bytes);
    return await conn.response(5_000);
  } finally {
    conn.destroy();
  }
}

/** GET with a chosen Host header (fetch does not let one set it). */
function getWithHost(url: string, pathname: string, host: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${pathname}`, { agent: false, headers: { ...headers, host } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
}

describe('every refusal is a clean 4xx in the API error shape', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      worker: false,
      env: {
        BATCHD_MAX_ONLINE_BODY_BYTES: String(ONLINE_LIMIT),
        BATCHD_HEADERS_TIMEOUT_MS: '1000',
        BATCHD_REQUEST_TIMEOUT_MS: '1000',
        BATCHD_TRUSTED_HOSTS: 'batchd.example.com',
      },
    });
  });
  after(() => server?.stop());

  test('each route has its own body limit; over it is a 413 naming the limit and its variable', async () => {
    const pad = (bytes: number) => JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });
    // 2 MB: over the general 1 MB cap, under the online one, so the online route reads it and answers on the model.
    const online = await postText(server, '/v1/chat/completions', pad(2 * MB));
    assert.equal(online.status, 400);
    assertApiError(online.body, 400, 'model_not_found');
    const overOnline = await postText(server, '/v1/chat/completions', pad(ONLINE_LIMIT + 10));
    assert.equal(overOnline.status, 413);
    assertApiError(overOnline.body, 413, 'body_too_large', new RegExp(`${ONLINE_LIMIT} bytes.*BATCHD_MAX_ONLINE_BODY_BYTES`));
    const overJson = await postText(server, `/v1/batch/jobs/${crypto.randomUUID()}/cancel`, pad(2 * MB));
    assert.equal(overJson.status, 413);
    assertApiError(overJson.body, 413, 'body_too_large', /1 MB .*BATCHD_MAX_JSON_BODY_BYTES/);
    // The create route takes a 2 MB inline job...
    const requests = Array.from({ length: 300 }, (_, i) => ({
      custom_id: `r${i}`,
      body: { max_tokens: 4, messages: [{ role: 'user', content: 'y'.repeat(7000) }] },
    }));
    const created = await postText(server, '/v1/batch/jobs', JSON.stringify({ endpoint: '/v1/chat/completions', model: 'mistral-small-latest', requests }));
    assert.equal(created.status, 200, created.body);
    // ...and refuses one announced past its 64 MB default before reading it, closing the connection.
    const conn = await RawConnection.open(server.url);
    try {
      conn.write(
        requestHead('POST', '/v1/batch/jobs', { authorization: `Bearer ${server.keys.a}`, 'content-type': 'application/json', 'content-length': 64 * MB + 1 }),
      );
      const res = await conn.response(5_000);
      assert.equal(res?.status, 413);
      assertApiError(res!.body, 413, 'body_too_large', /64 MB .*BATCHD_MAX_CREATE_BODY_BYTES/);
      assert.equal(res!.headers.connection, 'close');
      assert.ok(await conn.closesWithin(3_000));
    } finally {
      conn.destroy();
    }
  });

  test('JSON nested 100,000 levels deep is a 400 naming BATCHD_MAX_JSON_DEPTH: inline job, chat moderation, online body', async () => {
    const deep = DEEP(100_000);
    const cases = [
      [
        '/v1/batch/jobs',
        `{"endpoint":"/v1/chat/completions","model":"mistral-small-latest","requests":[{"custom_id":"1","body":{"messages":[{"role":"user","content":"hi"}],"x":${deep}}}]}`,
      ],
      ['/v1/chat/moderations', `{"model":"mistral-moderation-latest","input":[[{"role":"user","content":"hi"}]],"x":${deep}}`],
      ['/v1/chat/completions', `{"model":"mistral-small-latest","messages":[{"role":"user","content":${deep}}]}`],
      ['/v1/embeddings', `{"model":"mistral-embed","input":${deep}}`],
    ] as const;
    for (const [url, text] of cases) {
      const res = await postText(server, url, text);
      assert.equal(res.status, 400, `${url}: ${res.body.slice(0, 300)}`);
      assertApiError(res.body, 400, 'json_too_deep', /64 levels \(BATCHD_MAX_JSON_DEPTH\)/);
    }
    // 64 levels in all pass the guard (this one then fails on its model).
    const ok = await postText(server, '/v1/chat/completions', `{"model":"no-such-model","x":${DEEP(63)}}`);
    assertApiError(ok.body, 400, 'model_not_found');
  });

  test('a 1M-item inline requests array is refused at item 10,001 without parsing the rest', async () => {
    const head = '{"endpoint":"/v1/chat/completions","model":"mistral-small-latest","requests":[';
    const started = Date.now();
    const million = await postText(server, '/v1/batch/jobs', `${head}${'{},'.repeat(999_999)}{}]}`);
    assert.equal(million.status, 422);
    assertApiError(million.body, 422, 'too_many_inline_requests', /at least 10001 items; inline batches take at most 10000/);
    assert.ok(Date.now() - started < 5_000);
    // What follows item 10,001 is never parsed: not even its JSON syntax is looked at.
    const garbage = await postText(server, '/v1/batch/jobs', `${head}${'{},'.repeat(10_001)} this is not JSON`);
    assertApiError(garbage.body, 422, 'too_many_inline_requests');
    // 10,000 items pass the count (and are then validated one by one: these are empty).
    const tenThousand = await postText(server, '/v1/batch/jobs', `${head}${'{},'.repeat(9_999)}{}]}`);
    assert.equal(tenThousand.status, 422);
    assert.notEqual(JSON.parse(tenThousand.body).code, 'too_many_inline_requests');
  });

  test('999 metadata filters on the job list are a 400 naming the limit; 64 are fine', async () => {
    const filters = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join('&');
    const many = await server.request('GET', `/v1/batch/jobs?${filters(999)}`);
    assert.equal(many.status, 400);
    assertApiError(many.body, 400, 'too_many_metadata_filters', /999 metadata filters; at most 64/);
    const json = await server.request(
      'GET',
      `/v1/batch/jobs?metadata=${encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))))}`,
    );
    assertApiError(json.body, 400, 'too_many_metadata_filters');
    const fine = await server.request('GET', `/v1/batch/jobs?${filters(64)}`);
    assert.equal(fine.status, 200);
    assert.deepEqual(fine.body.data, []);
  });

  test('files named in any script download with an RFC 6266 header; the SDK downloads them', async () => {
    const client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
    const bytes = jsonlBytes(chatLines(2));
    const names = [
      ['日本語.jsonl', '日本語.jsonl'],
      ['😀 report.jsonl', '😀 report.jsonl'],
      ['invoice\u202Elmsj.jsonl', 'invoicelmsj.jsonl'],
    ];
    for (const [name, shown] of names) {
      const up = await client.files.upload({ file: { fileName: name!, content: bytes }, purpose: 'batch' });
      assert.equal(up.filename, name, 'the file keeps its name');
      const res = await fetch(`${server.url}/v1/files/${up.id}/content`, { headers: server.auth() });
      assert.equal(res.status, 200, `${name}: ${res.status}`);
      const cd = res.headers.get('content-disposition') ?? '';
      if (/^[\x20-\x7e]+$/.test(shown!) && !/["\\]/.test(shown!)) assert.equal(cd, `attachment; filename="${shown}"`);
      else {
        assert.match(cd, /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''[A-Za-z0-9%!#$&+\-.^_`|~]+$/, cd);
        assert.equal(decodeURIComponent(/filename\*=UTF-8''(.+)$/.exec(cd)![1]!), shown);
      }
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
      const stream = await client.files.download({ fileId: up.id });
      assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), bytes);
    }
    const plain = await uploadJsonl(server, chatLines(1), 'a', 'plain.jsonl');
    const res = await fetch(`${server.url}/v1/files/${plain.id}/content`, { headers: server.auth() });
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="plain.jsonl"');
    await res.arrayBuffer();
  });

  test('headers over the size limit are a 431 in the API shape, like an unknown route (404) or media type (415)', async () => {
    const missing = await fetch(`${server.url}/v1/nope`, { headers: server.auth() });
    assertApiError(await missing.json(), 404, 'route_not_found');
    const text = await postText(server, '/v1/batch/jobs', 'hello', 'text/plain');
    assert.equal(text.status, 415);
    assertApiError(text.body, 415, 'unsupported_media_type');
    const res = await rawExchange(server.url, requestHead('GET', '/health', { 'x-padding': 'a'.repeat(32 * 1024) }));
    assert.equal(res?.status, 431);
    assertApiError(res!.body, 431, 'headers_too_large');
  });

  test('a malformed request or URL is a 400 in the API shape', async () => {
    const badUrl = await fetch(`${server.url}/v1/files/%E0%A4%A`, { headers: server.auth() });
    assert.equal(badUrl.status, 400);
    assertApiError(await badUrl.json(), 400, 'invalid_url');
    const res = await rawExchange(server.url, 'THIS IS NOT HTTP\r\n\r\n');
    assert.equal(res?.status, 400);
    assertApiError(res!.body, 400, 'malformed_request');
  });

  test('a silent connection, or headers or a JSON body that stop arriving, get a 408 in the API shape and the connection closed', async () => {
    const silent = await RawConnection.open(server.url);
    const headers = await RawConnection.open(server.url);
    const body = await RawConnection.open(server.url);
    try {
      headers.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      body.write(
        requestHead('POST', '/v1/batch/jobs', { authorization: `Bearer ${server.keys.a}`, 'content-type': 'application/json', 'content-length': 1000 }),
      );
      body.write('{"endpoint": ');
      const [s, h, b] = await Promise.all([silent.response(5_000), headers.response(5_000), body.response(5_000)]);
      assert.equal(s?.status, 408, 'a connection that never sends a byte');
      assertApiError(s!.body, 408, 'request_timeout');
      assert.equal(h?.status, 408);
      assertApiError(h!.body, 408, 'request_timeout', /1000 ms \(BATCHD_HEADERS_TIMEOUT_MS\)/);
      assert.equal(b?.status, 408);
      assertApiError(b!.body, 408, 'request_timeout', /1000 ms \(BATCHD_REQUEST_TIMEOUT_MS\)/);
      for (const conn of [silent, headers, body]) assert.ok(await conn.closesWithin(3_000));
    } finally {
      silent.destroy();
      headers.destroy();
      body.destroy();
    }
  });

  test('signed URLs are minted only for trusted hosts when BATCHD_TRUSTED_HOSTS is set', async () => {
    const file = await uploadJsonl(server, chatLines(1));
    const evil = await getWithHost(server.url, `/v1/files/${file.id}/url`, 'evil.example', server.auth());
    assert.equal(evil.status, 400);
    assertApiError(evil.body, 400, 'untrusted_host', /--public-url.*BATCHD_TRUSTED_HOSTS/);
    const trusted = await getWithHost(server.url, `/v1/files/${file.id}/url`, 'batchd.example.com:8443', server.auth());
    assert.equal(trusted.status, 200);
    assert.match(trusted.body.url, /^http:\/\/batchd\.example\.com:8443\/signed\/files\//);
  });
});

describe('the pre-parse JSON scan and the download header', () => {
  const inline = { maxDepth: 64, countKey: 'requests', maxItems: 2 };
  test("counts only the root object's requests items, whatever strings and nested keys contain", () => {
    assert.equal(scanJson('{"x":{"requests":[1,2,3]},"requests":[[1,2],[3]]}', inline), null);
    assert.equal(scanJson('{"requests":["a\\"],[", "]"]}', inline), null);
    assert.equal(scanJson('{"note":"requests","requests":[{"a":[1,2,3]},{}]}', inline), null);
    assert.deepEqual(scanJson('{"requests":[{},{},{}]}', inline), { kind: 'too_many_items', key: 'requests', limit: 2 });
    assert.deepEqual(scanJson('{"\\u0072equests":[1, 2, null]}', inline), { kind: 'too_many_items', key: 'requests', limit: 2 });
    assert.deepEqual(scanJson('{"requests":["a","b","c\\\\"]}', inline), { kind: 'too_many_items', key: 'requests', limit: 2 });
  });
  test('stops at the first container past the depth limit, brackets inside strings aside', () => {
    assert.equal(scanJson('[[["[[[[[[[[[["]]]', { maxDepth: 3 }), null);
    assert.deepEqual(scanJson('[[[[]]]]', { maxDepth: 3 }), { kind: 'too_deep', limit: 3 });
    assert.deepEqual(scanJson('{"a":{"b":{"c":{}}}}', { maxDepth: 3 }), { kind: 'too_deep', limit: 3 });
  });
  test('Content-Disposition: plain names as they are, others with an ASCII fallback and an RFC 8187 name', () => {
    assert.equal(contentDisposition('in.jsonl'), 'attachment; filename="in.jsonl"');
    assert.equal(contentDisposition('a "b".jsonl'), `attachment; filename="a _b_.jsonl"; filename*=UTF-8''a%20%22b%22.jsonl`);
    assert.equal(contentDisposition("it's (1).jsonl"), `attachment; filename="it's (1).jsonl"`);
    assert.equal(contentDisposition('ü*.jsonl'), `attachment; filename="_*.jsonl"; filename*=UTF-8''%C3%BC%2A.jsonl`);
    assert.equal(contentDisposition('\u202E'), 'attachment; filename="file"');
  });
});

describe('access logs', () => {
  test('a client abort is logged at info as 499, never as an error; signatures stay out of the log', async () => {
    const server = await startChildTestServer({ args: ['--no-worker'], env: { BATCHD_LOG_LEVEL: 'info' } });
    let log = '';
    server.proc.stdout!.on('data', (d) => (log += d));
    server.proc.stderr!.on('data', (d) => (log += d));
    try {
      const auth = { authorization: `Bearer ${server.keys.a}` };
      const form = new FormData();
      form.append('file', new Blob([`${JSON.stringify(chatLines(1)[0])}\n`]), 'in.jsonl');
      form.append('purpose', 'batch');
      const file = (await (await fetch(`${server.url}/v1/files`, { method: 'POST', headers: auth, body: form })).json()) as { id: string };
      const { url } = (await (await fetch(`${server.url}/v1/files/${file.id}/url`, { headers: auth })).json()) as { url: string };
      const signature = new URL(url).searchParams.get('signature')!;
      const signed = await fetch(url);
      assert.equal(signed.status, 200);
      await signed.text();

      const conn = await RawConnection.open(server.url);
      conn.write(requestHead('POST', '/v1/files', { ...auth, 'content-type': 'multipart/form-data; boundary=b', 'content-length': 1_000_000 }));
      conn.write('--b\r\nContent-Disposition: form-data; name="file"; filename="x.jsonl"\r\n\r\n' + 'z'.repeat(50_000));
      await new Promise((r) => setTimeout(r, 300));
      conn.destroy();

      const lines = await waitFor(
        'the 499 log line',
        async () => {
          const parsed = log
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, any>);
          return parsed.some((l) => l.statusCode === 499 || l.res?.statusCode === 499) ? parsed : undefined;
        },
        10_000,
      );
      const aborted = lines.find((l) => l.statusCode === 499 || l.res?.statusCode === 499)!;
      assert.equal(aborted.level, 30, 'logged at info');
      assert.deepEqual(
        lines.filter((l) => l.level >= 50),
        [],
        'nothing logged as an error',
      );
      assert.ok(
        lines.some((l) => String(l.req?.url ?? '').includes('signature=[redacted]')),
        'the signed download is logged, redacted',
      );
      assert.ok(!log.includes(signature), 'the signature never appears in the log');
    } finally {
      await server.stop();
    }
  });
});

describe('a huge prompt line in a batch file', () => {
  test(
    'a 10 MB prompt line gets its own 400-class error record, the others run, and the event loop never stalls for seconds',
    { timeout: 120_000 },
    async () => {
      const server = await startTestServer({});
      const loop = monitorEventLoopDelay({ resolution: 20 });
      try {
        const big = 'word '.repeat(1_990_000);
        const file = await uploadJsonl(server, [
          { custom_id: 'big', body: { max_tokens: 4, messages: [{ role: 'user', content: big }] } },
          ...chatLines(2, 'small'),
        ]);
        loop.enable();
        const created = await server.request('POST', '/v1/batch/jobs', {
          input_files: [file.id],
          model: 'mistral-small-latest',
          endpoint: '/v1/chat/completions',
        });
        const job = await waitForJob(server, created.body.id);
        loop.disable();
        assert.equal(job.succeeded_requests, 2);
        const [record] = jsonl(await download(server, job.error_file));
        assert.equal(record!.custom_id, 'big');
        assert.ok(record!.response.status_code >= 400 && record!.response.status_code < 500, JSON.stringify(record).slice(0, 400));
        assert.notEqual(record!.error.code, 'internal_error');
        assert.ok(loop.max / 1e6 < 1_500, `the event loop stalled for ${Math.round(loop.max / 1e6)} ms`);
      } finally {
        loop.disable();
        await server.stop();
      }
    },
  );
});
