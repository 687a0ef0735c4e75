import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { chatLines, download, startChildTestServer, startTestServer, uploadJsonl, waitFor, type ChildTestServer, type TestServer } from '../helpers/server.js';
import { RawConnection, requestHead } from '../helpers/raw-socket.js';

const IDLE_CONNECTIONS = 2_000;
const HUGE = 100_000_000;

/** GET on a fresh connection (no pooling): the status, or the error's code when the server refused the connection. */
function getStatus(url: string, pathname: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(`${url}${pathname}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
  });
}

async function uploadWorks(url: string, key: string, tag: string): Promise<boolean> {
  const form = new FormData();
  form.append('file', new Blob([`${JSON.stringify(chatLines(1, tag)[0])}\n`]), `${tag}.jsonl`);
  form.append('purpose', 'batch');
  const res = await fetch(`${url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  await res.arrayBuffer();
  return res.status === 200;
}

describe('connections without a key', () => {
  let server: ChildTestServer;
  before(async () => {
    server = await startChildTestServer({ args: ['--no-worker'] });
  });
  after(() => server?.stop());

  test(
    `${IDLE_CONNECTIONS} idle unauthenticated connections announcing a 100 MB body are answered 401 and closed, while /health and an authenticated upload keep working`,
    { timeout: 120_000 },
    async () => {
      const conns: RawConnection[] = [];
      try {
        // Opened in waves and held from the client's side: nothing of the announced bodies is ever sent.
        for (let i = 0; i < IDLE_CONNECTIONS; i += 200) {
          const wave = await Promise.all(Array.from({ length: Math.min(200, IDLE_CONNECTIONS - i) }, () => RawConnection.open(server.url)));
          for (const c of wave) c.write(requestHead('POST', '/v1/files', { 'content-type': 'multipart/form-data; boundary=x', 'content-length': HUGE }));
          conns.push(...wave);
        }
        assert.equal(await getStatus(server.url, '/health'), 200);
        assert.ok(await uploadWorks(server.url, server.keys.a!, 'during'), 'an authenticated upload works while the idle connections are open');

        const answers = await Promise.all(conns.map((c) => c.response(30_000)));
        const closed = await Promise.all(conns.map((c) => c.closesWithin(30_000)));
        assert.deepEqual(
          { answered401: answers.filter((r) => r?.status === 401).length, closedByServer: closed.filter(Boolean).length },
          { answered401: IDLE_CONNECTIONS, closedByServer: IDLE_CONNECTIONS },
        );
        const sample = answers[0]!;
        assert.equal(sample.headers.connection, 'close');
        assert.equal(JSON.parse(sample.body).object, 'error');
        assert.equal(await getStatus(server.url, '/health'), 200);
        assert.ok(await uploadWorks(server.url, server.keys.a!, 'after'));
      } finally {
        for (const c of conns) c.destroy();
      }
    },
  );

  test('an early 401 on a request whose body is pending closes the connection instead of reading the body', async () => {
    const conn = await RawConnection.open(server.url);
    try {
      conn.write(requestHead('POST', '/v1/batch/jobs', { 'content-type': 'application/json', 'content-length': 1_000_000 }));
      conn.write('{"model": "mistral-small-latest", ');
      const res = await conn.response(5_000);
      assert.equal(res?.status, 401);
      assert.equal(res?.headers.connection, 'close');
      assert.ok(await conn.closesWithin(5_000), 'the server closed the connection');
    } finally {
      conn.destroy();
    }
  });
});

describe('slow and numerous connections', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      worker: false,
      env: { BATCHD_MIN_UPLOAD_BYTES_PER_SEC: '4096', BATCHD_UPLOAD_RATE_WINDOW_MS: '400', BATCHD_MAX_CONNECTIONS: '8', BATCHD_KEEP_ALIVE_TIMEOUT_MS: '500' },
    });
  });
  after(() => server?.stop());

  test('a trickling upload is cut with 408 upload_too_slow and leaves no temp file and no file', async () => {
    const tmpDir = path.join(server.dataDir, 'blobs', 'tmp');
    const conn = await RawConnection.open(server.url);
    const boundary = 'trickle';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const trickle = setInterval(() => conn.write('x'.repeat(8)), 50);
    try {
      conn.write(
        requestHead('POST', '/v1/files', {
          authorization: `Bearer ${server.keys.a}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': 10_000_000,
        }),
      );
      conn.write(head + 'x'.repeat(70_000));
      // The upload is being staged: its partial blob exists.
      await waitFor('the staged temp file', async () => (fs.readdirSync(tmpDir).length === 1 ? true : undefined), 5_000);
      const started = Date.now();
      const res = await conn.response(5_000);
      assert.equal(res?.status, 408);
      assert.equal(JSON.parse(res!.body).code, 'upload_too_slow');
      assert.match(JSON.parse(res!.body).message, /BATCHD_MIN_UPLOAD_BYTES_PER_SEC/);
      assert.ok(Date.now() - started < 3_000);
      assert.ok(await conn.closesWithin(3_000), 'the server closed the connection');
      assert.deepEqual(fs.readdirSync(tmpDir), []);
      assert.equal((await server.request('GET', '/v1/files')).body.total, 0);
    } finally {
      clearInterval(trickle);
      conn.destroy();
    }
  });

  test('beyond BATCHD_MAX_CONNECTIONS new connections are refused; freed slots serve again', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => RawConnection.open(server.url)));
    try {
      await waitFor('8 connections held', async () => ((await connections(server)) >= 8 ? true : undefined), 5_000);
      const refused = await getStatus(server.url, '/health');
      assert.notEqual(refused, 200, 'the 9th connection is refused');
    } finally {
      for (const c of held) c.destroy();
    }
    await waitFor('connections released', async () => ((await connections(server)) < 8 ? true : undefined), 10_000);
    assert.equal(await getStatus(server.url, '/health'), 200);
  });

  test('an idle kept-alive connection is closed after BATCHD_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const conn = await RawConnection.open(server.url);
    try {
      conn.write(requestHead('GET', '/health'));
      const res = await conn.response(5_000);
      assert.equal(res?.status, 200);
      assert.notEqual(res?.headers.connection, 'close');
      const started = Date.now();
      assert.ok(await conn.closesWithin(3_000), 'the server closed the idle connection');
      assert.ok(Date.now() - started >= 300, 'not before the timeout');
    } finally {
      conn.destroy();
    }
  });

  test('close() right after a kept-alive download finishes in well under a second', async () => {
    // The race made certain: the file's stream ends 300 ms after its last bytes, so a client
    // satisfied by Content-Length is done while the server's response is still open.
    const own = await startTestServer({ worker: false, blobs: (store) => endingLate(store, 300) });
    const file = await uploadJsonl(own, chatLines(3));
    assert.equal((await download(own, file.id)).split('\n').length, 4);
    const started = Date.now();
    const closed = await Promise.race([own.stop().then(() => true), new Promise((r) => setTimeout(() => r(false), 3_000).unref())]);
    assert.ok(closed && Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
  });
});

/** A blob store whose read streams end `ms` after their last chunk. */
function endingLate(store: BlobStore, ms: number): BlobStore {
  return {
    createWriter: () => store.createWriter(),
    delete: (key) => store.delete(key),
    read: (key, range) =>
      store.read(key, range).pipe(
        new Transform({
          transform: (chunk, _enc, cb) => cb(null, chunk),
          flush: (cb) => void setTimeout(cb, ms),
        }),
      ),
  };
}

function connections(server: TestServer): Promise<number> {
  return new Promise((resolve, reject) => server.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}
