import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { toApiError } from '../../src/api/app.js';
import { chatLines, download, startTestServer, uploadJsonl, type TestServer } from '../helpers/server.js';

/** A blob store whose disk "fills up" on demand: writes fail with ENOSPC part-way through. */
function fillableDisk(inner: BlobStore) {
  const disk = { full: false };
  const store: BlobStore = {
    read: (key, range) => inner.read(key, range),
    delete: (key) => inner.delete(key),
    createWriter() {
      const w = inner.createWriter();
      let written = 0;
      const stream = new Writable({
        write(chunk: Buffer, _enc, cb) {
          written += chunk.length;
          if (disk.full && written > 1000) return cb(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
          w.stream.write(chunk, cb);
        },
        final(cb) {
          w.stream.end(cb);
        },
      });
      return { key: w.key, stream, commit: () => w.commit(), abort: () => w.abort() };
    },
  };
  return { disk, store };
}

describe('resource faults', () => {
  let server: TestServer;
  let disk: { full: boolean };
  before(async () => {
    server = await startTestServer({
      worker: false,
      blobs: (inner) => {
        const f = fillableDisk(inner);
        disk = f.disk;
        return f.store;
      },
    });
  });
  after(() => server.stop());

  test('a full disk fails the upload with 507, stores nothing, and uploads work again once space frees', async () => {
    const kept = await uploadJsonl(server, chatLines(5, 'kept'));
    disk.full = true;
    const form = new FormData();
    form.append(
      'file',
      new Blob([
        chatLines(200, 'big')
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ]),
      'big.jsonl',
    );
    form.append('purpose', 'batch');
    const res = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(), body: form });
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(res.status, 507);
    assert.equal(body.code, 'insufficient_storage');
    assert.match(body.message, /out of disk space; nothing was stored/);
    const list = await server.request('GET', '/v1/files');
    assert.deepEqual(
      list.body.data.map((f: { id: string }) => f.id),
      [kept.id],
    );
    disk.full = false;
    const again = await uploadJsonl(server, chatLines(200, 'big'));
    assert.equal(again.num_lines, 200);
    assert.equal((await download(server, kept.id)).split('\n').filter(Boolean).length, 5, 'earlier files are intact');
  });

  test('a write that meets a locked SQLite database waits for the lock instead of failing', async () => {
    // Another process holds the write lock for 400 ms (in this process, SQLite's busy wait would block its release).
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `
      const db = new (require('better-sqlite3'))(${JSON.stringify(path.join(server.dataDir, 'batchd.sqlite'))});
      db.prepare('BEGIN IMMEDIATE').run();
      console.log('locked');
      setTimeout(() => { db.prepare('COMMIT').run(); db.close(); }, 400);
    `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    const res = await server.request('POST', '/v1/batch/jobs', {
      endpoint: '/v1/chat/completions',
      model: 'mistral-small-latest',
      requests: chatLines(2, 'lock'),
    });
    await new Promise((r) => holder.once('exit', r));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'QUEUED');
  });

  test('a store still busy after the wait is a 503 that says nothing changed', () => {
    const err = toApiError(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'store_busy');
    assert.match(err.message, /nothing was changed/);
    const full = toApiError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    assert.equal(full.status, 507);
  });
});
