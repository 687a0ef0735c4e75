import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { chatLines, jsonlBytes, startTestServer, waitFor, waitForJob, type TestServer } from '../helpers/server.js';
import { createPgSchema, STORES, storeSuite, storeTestOptions } from '../helpers/stores.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { insertFile, markFileDeleted, type FileRow } from '../../src/store/files.js';
import { StorageQuotaExceeded, readUsage } from '../../src/store/storage-usage.js';

const QUOTA = 1_000_000;

/** JSONL chat lines of about `bytes` bytes: a valid batch file. */
function batchBytes(bytes: number, prefix = 'r'): Buffer {
  const line = (i: number) =>
    JSON.stringify({ custom_id: `${prefix}${i}`, body: { max_tokens: 4, messages: [{ role: 'user', content: 'x'.repeat(200) }] } }) + '\n';
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const l = line(i);
    lines.push(l);
    size += l.length;
  }
  return Buffer.from(lines.join(''));
}

interface RawResult {
  status: number;
  body: any;
  /** Bytes of the file the client had written when the answer came. */
  sent: number;
  /** Bytes written in all: the client keeps writing after the answer until the server closes the connection. */
  sentInAll: number;
  /** Whether the server closed the connection before the whole body was written (it stopped reading). */
  cut: boolean;
  ms: number;
}

/**
 * POST /v1/files over a raw socket announcing a `size`-byte file and writing it in 64 KiB
 * pieces, honouring backpressure, through the answer and on until the body is complete or
 * the server closes the connection: what a client uploading a big file sees of a server
 * that stops reading early, and proof that it does stop (no draining of the rest).
 */
function rawUpload(server: TestServer, size: number, key = server.keys.a): Promise<RawResult> {
  const boundary = `----q${randomBytes(6).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const piece = batchBytes(64 * 1024);
  const { port } = new URL(server.url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let sent = 0;
    let answer: Omit<RawResult, 'sentInAll' | 'cut'> | null = null;
    let closed = false;
    let raw = Buffer.alloc(0);
    const parse = () => {
      const text = raw.toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (answer || split < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, split))?.[1] ?? NaN);
      const body = text.slice(split + 4);
      if (Buffer.byteLength(body) < length) return;
      answer = { status: Number(text.slice(9, 12)), body: JSON.parse(body), sent, ms: Date.now() - started };
    };
    const settle = () => {
      if (!answer) return reject(new Error(`connection closed without an answer after ${sent} bytes: ${raw.toString('utf8').slice(0, 200)}`));
      resolve({ ...answer, sentInAll: sent, cut: closed && sent < size });
      socket.destroy();
    };
    socket.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d]);
      parse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
    });
    socket.on('connect', async () => {
      socket.write(
        `POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
          `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + size + tail.length}\r\n\r\n`,
      );
      socket.write(head);
      while (sent < size && !closed) {
        const chunk = piece.subarray(0, Math.min(piece.length, size - sent));
        sent += chunk.length;
        if (!socket.write(chunk)) await drained(socket);
      }
      if (!closed) socket.write(tail);
      // The answer to a complete body may still be on its way.
      for (let i = 0; i < 100 && !answer && !closed; i++) await new Promise((r) => setTimeout(r, 20));
      settle();
    });
  });
}

/** Until the socket drains or closes; a socket the server no longer reads stays full, hence the timeout. */
function drained(socket: net.Socket) {
  return new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, 200);
    socket.once('drain', done);
    socket.once('close', done);
  });
}

async function upload(server: TestServer, content: Buffer, ws: 'a' | 'b' = 'a') {
  const form = new FormData();
  form.append('file', new Blob([content]), 'in.jsonl');
  form.append('purpose', 'batch');
  const res = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(ws), body: form });
  return { status: res.status, body: (await res.json()) as any };
}

/** Every file and directory under `dir`, with sizes: the blob store on disk, its temp dir included. */
function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => {
      const p = path.join(e.parentPath, e.name);
      return `${path.relative(dir, p)}:${e.isFile() ? fs.statSync(p).size : 'dir'}`;
    })
    .sort();
}

/** What the store holds: file rows, chunk rows, blob rows and pieces, usage and charges. */
async function storeState(db: Db) {
  const count = async (t: 'files' | 'file_chunks' | 'blobs' | 'blob_pieces' | 'storage_charges') =>
    Number(
      (
        await db.kysely
          .selectFrom(t)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const usage = await db.kysely.selectFrom('storage_usage').select(['workspace', 'bytes', 'files']).orderBy('workspace').execute();
  return {
    files: await count('files'),
    chunks: await count('file_chunks'),
    blobs: await count('blobs'),
    pieces: await count('blob_pieces'),
    charges: await count('storage_charges'),
    usage: usage.map((u) => `${u.workspace}:${Number(u.bytes)}:${Number(u.files)}`),
  };
}

/** Usage is exactly the sum of the charges, per workspace. */
async function assertUsageExact(db: Db) {
  const sums = await db.kysely
    .selectFrom('storage_charges')
    .select(['workspace', (eb) => eb.fn.sum<number>('bytes').as('b'), (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('workspace')
    .execute();
  const usage = await db.kysely.selectFrom('storage_usage').select(['workspace', 'bytes', 'files']).execute();
  for (const u of usage) {
    const s = sums.find((x) => x.workspace === u.workspace);
    assert.equal(Number(u.bytes), Number(s?.b ?? 0), `bytes of ${u.workspace}`);
    assert.equal(Number(u.files), Number(s?.n ?? 0), `files of ${u.workspace}`);
  }
}

async function listIds(server: TestServer, ws: 'a' | 'b' = 'a') {
  return (await server.request('GET', '/v1/files', undefined, ws)).body.data.map((f: { id: string }) => f.id).sort();
}

for (const name of STORES) {
  describe(`storage quotas on ${name}`, async () => {
    const opts = await storeTestOptions(name);
    let server: TestServer;
    let db: Db;
    let drop: (() => Promise<void>) | undefined;
    let blobDir: string;

    const start = async (env: Record<string, string>, models?: unknown) => {
      let database: string | undefined;
      if (name === 'postgres') {
        const schema = await createPgSchema();
        database = schema.url;
        drop = schema.drop;
      }
      server = await startTestServer({ env, models, database, worker: models !== undefined });
      db = await openDatabase(database ?? `sqlite:${path.join(server.dataDir, 'batchd.sqlite')}`);
      blobDir = path.join(server.dataDir, 'blobs');
    };
    const stop = async () => {
      await db?.close();
      await server?.stop();
      await drop?.();
      drop = undefined;
    };

    describe('bytes', () => {
      before(() => (opts.skip ? undefined : start({ BATCHD_MAX_STORAGE_BYTES: String(QUOTA) })));
      after(stop);

      test('an upload crossing the quota is cut as soon as it crosses, answered 413, and leaves nothing stored', opts, async () => {
        const small = await upload(server, batchBytes(200_000));
        assert.equal(small.status, 200, JSON.stringify(small.body));
        const files = await listIds(server);
        const disk = tree(blobDir);
        const state = await storeState(db);

        const size = 64 * 1024 * 1024;
        const res = await rawUpload(server, size);
        assert.equal(res.status, 413, JSON.stringify(res.body));
        assert.equal(res.body.object, 'error');
        assert.equal(res.body.code, 'storage_quota_exceeded');
        assert.match(res.body.message, /1,000,000 bytes \(BATCHD_MAX_STORAGE_BYTES\)/);
        assert.match(res.body.message, /uses \d[\d,]* \(\d[\d,]* in files/);
        // The server stopped reading near the quota: the client got the answer long before sending 64 MB.
        // The server answered as the quota was crossed, then closed the connection instead of reading the rest.
        assert.ok(res.sent < 16 * 1024 * 1024, `client had sent ${res.sent} bytes when the answer came`);
        assert.ok(res.cut, 'the server closed the connection');
        assert.ok(res.sentInAll < 16 * 1024 * 1024, `client could write ${res.sentInAll} bytes in all`);

        assert.deepEqual(await listIds(server), files);
        await waitFor('the temp file to be removed', async () => (JSON.stringify(tree(blobDir)) === JSON.stringify(disk) ? true : undefined), 5000);
        assert.deepEqual(await storeState(db), state);
        await assertUsageExact(db);
      });

      test('the bytes left still fit exactly; one byte more does not', opts, async () => {
        const used = (await readUsage(db.kysely, 'a')).bytes;
        const left = QUOTA - used;
        // A batch file of exactly the bytes left: whole lines, then one padded to the size.
        const fit = batchBytes(left - 1000);
        const padLine = (content: number) => JSON.stringify({ custom_id: 'pad', body: { messages: [{ role: 'user', content: 'y'.repeat(content) }] } }) + '\n';
        const exact = Buffer.concat([fit, Buffer.from(padLine(left - fit.length - padLine(0).length))]);
        assert.equal(exact.length, left);
        const over = await upload(server, Buffer.concat([exact, Buffer.from(' \n')]));
        assert.equal(over.status, 413, JSON.stringify(over.body));
        const ok = await upload(server, exact);
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
        assert.equal((await readUsage(db.kysely, 'a')).bytes, QUOTA);
        const full = await upload(server, batchBytes(10));
        assert.equal(full.status, 413);
        assert.match(full.body.message, /no byte is left/);
        await assertUsageExact(db);
      });

      test('deleting files gives their bytes back; another workspace is not affected', opts, async () => {
        const b = await upload(server, batchBytes(600_000), 'b');
        assert.equal(b.status, 200, 'workspace b has its own quota');
        for (const id of await listIds(server)) assert.equal((await server.request('DELETE', `/v1/files/${id}`)).status, 200);
        assert.deepEqual(await readUsage(db.kysely, 'a'), { bytes: 0, files: 0, liveBytes: 0 });
        const again = await upload(server, batchBytes(900_000));
        assert.equal(again.status, 200, JSON.stringify(again.body));
        await assertUsageExact(db);
      });

      test('of concurrent uploads that together cross the quota, only what fits is stored', opts, async () => {
        for (const id of await listIds(server)) await server.request('DELETE', `/v1/files/${id}`);
        const results = await Promise.all([0, 1, 2, 3].map(() => rawUpload(server, 400_000)));
        const ok = results.filter((r) => r.status === 200);
        assert.equal(ok.length, 2, JSON.stringify(results.map((r) => [r.status, r.body.code])));
        assert.ok(results.filter((r) => r.status !== 200).every((r) => r.status === 413 && r.body.code === 'storage_quota_exceeded'));
        assert.equal((await listIds(server)).length, 2);
        assert.ok((await readUsage(db.kysely, 'a')).bytes <= QUOTA);
        await assertUsageExact(db);
      });
    });

    describe('file count', () => {
      before(() => (opts.skip ? undefined : start({ BATCHD_MAX_FILES: '3' })));
      after(stop);

      test('the file past BATCHD_MAX_FILES is refused with 403 before its body is read', opts, async () => {
        for (let i = 0; i < 3; i++) assert.equal((await upload(server, batchBytes(1000))).status, 200);
        const state = await storeState(db);
        const res = await rawUpload(server, 64 * 1024 * 1024);
        assert.equal(res.status, 403, JSON.stringify(res.body));
        assert.equal(res.body.code, 'file_quota_exceeded');
        assert.match(res.body.message, /3 files \(BATCHD_MAX_FILES\) and stores 3/);
        assert.ok(res.cut && res.sentInAll < 16 * 1024 * 1024, `client could write ${res.sentInAll} bytes in all`);
        assert.deepEqual(await storeState(db), state);
        const [first] = await listIds(server);
        await server.request('DELETE', `/v1/files/${first}`);
        assert.equal((await upload(server, batchBytes(1000))).status, 200, 'a deleted file gives its place back');
      });
    });

    describe('registry overrides and results', () => {
      const models = {
        models: [{ id: 'echo', engine: 'echo', endpoints: ['/v1/chat/completions'] }],
        workspaces: { b: { max_storage_bytes: 20_000, max_files: 50 } },
      };
      before(() => (opts.skip ? undefined : start({ BATCHD_MAX_STORAGE_BYTES: '0', BATCHD_MAX_FILES: '2' }, models)));
      after(stop);

      test("a workspace's own limits in the registry file replace the server-wide ones", opts, async () => {
        const big = await upload(server, batchBytes(30_000), 'b');
        assert.equal(big.status, 413);
        assert.match(big.body.message, /20,000 bytes \(workspaces\."b"\.max_storage_bytes in the registry file\)/);
        for (let i = 0; i < 3; i++) assert.equal((await upload(server, batchBytes(100, `f${i}`), 'b')).status, 200, 'b may keep 50 files');
        assert.equal((await upload(server, batchBytes(100))).status, 200);
        assert.equal((await upload(server, batchBytes(100))).status, 200);
        const third = await upload(server, batchBytes(100));
        assert.equal(third.status, 403, 'a keeps the server-wide BATCHD_MAX_FILES=2');
      });

      test("a job's results may take its workspace past the quota without failing it; uploads are then refused until the job is deleted", opts, async () => {
        const input = await upload(server, Buffer.from(jsonlBytes(chatLines(40, 'q', () => 'z'.repeat(300)))), 'b');
        assert.equal(input.status, 200, JSON.stringify(input.body));
        const created = await server.request('POST', '/v1/batch/jobs', { input_files: [input.body.id], model: 'echo', endpoint: '/v1/chat/completions' }, 'b');
        assert.equal(created.status, 200, JSON.stringify(created.body));
        const job = await waitForJob(server, created.body.id, undefined, 'b');
        assert.equal(job.status, 'SUCCESS');
        assert.equal(job.succeeded_requests, 40);
        const usage = await readUsage(db.kysely, 'b');
        assert.ok(usage.bytes > 20_000, `results counted: ${usage.bytes}`);
        const refused = await upload(server, batchBytes(100), 'b');
        assert.equal(refused.status, 413);
        assert.match(refused.body.message, /no byte is left/);
        // An inline job's input is stored like an upload: refused too, and nothing of it kept.
        const before = await storeState(db);
        const inline = await server.request('POST', '/v1/batch/jobs', { requests: chatLines(3), model: 'echo', endpoint: '/v1/chat/completions' }, 'b');
        assert.equal(inline.status, 413, JSON.stringify(inline.body));
        assert.equal(inline.body.code, 'storage_quota_exceeded');
        assert.deepEqual(await storeState(db), before);
        await assertUsageExact(db);

        assert.equal((await server.request('DELETE', `/v1/batch/jobs/${job.id}`, undefined, 'b')).status, 200);
        await waitFor("the deleted job's results to be given back", async () => {
          const u = await readUsage(db.kysely, 'b');
          return u.bytes < usage.bytes - 10_000 ? u : undefined;
        });
        assert.equal((await upload(server, batchBytes(100), 'b')).status, 200);
        await assertUsageExact(db);
      });
    });
  });

  describe(`storage usage accounting on ${name}`, async () => {
    const s = await storeSuite(name);
    const row = (workspace: string, bytes: number): FileRow => ({
      id: randomUUID(),
      workspace,
      filename: 'f',
      bytes,
      purpose: 'fine-tune',
      sample_type: 'instruct',
      source: 'upload',
      num_lines: 1,
      mimetype: null,
      signature: null,
      expires_at: null,
      visibility: 'workspace',
      created_at: Date.now(),
      blob_key: randomUUID(),
      hidden: 0,
      deleted_at: null,
      job_id: null,
      result_kind: null,
    });

    test('concurrent charges never pass a quota together (the check at commit, without the in-process meter)', s.opts, async () => {
      const tries = await Promise.allSettled(
        Array.from({ length: 12 }, () => insertFile(s.db.kysely, row('ws-race', 300), [], { maxBytes: 1000, maxFiles: 0 })),
      );
      assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 3);
      assert.ok(tries.every((t) => t.status === 'fulfilled' || t.reason instanceof StorageQuotaExceeded));
      assert.deepEqual(await readUsage(s.db.kysely, 'ws-race'), { bytes: 900, files: 3, liveBytes: 0 });
      const files = await Promise.allSettled(Array.from({ length: 8 }, () => insertFile(s.db.kysely, row('ws-race-n', 1), [], { maxBytes: 0, maxFiles: 5 })));
      assert.equal(files.filter((t) => t.status === 'fulfilled').length, 5);
    });

    test('a released file is refunded exactly once, however many release it at once', s.opts, async () => {
      const f = row('ws-refund', 500);
      await insertFile(s.db.kysely, f, []);
      await markFileDeleted(s.db.kysely, 'ws-refund', f.id, Date.now());
      const released = await Promise.all(Array.from({ length: 5 }, () => s.queue.releaseFile(f.id, Date.now())));
      assert.equal(released.filter(Boolean).length, 1);
      assert.deepEqual(await readUsage(s.db.kysely, 'ws-refund'), { bytes: 0, files: 0, liveBytes: 0 });
    });
  });
}
