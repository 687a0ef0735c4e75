import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { STORES, makeStore, storeTestOptions, type TestStore } from '../helpers/stores.js';
import type { Db } from '../../src/store/database.js';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { LocalBlobStore } from '../../src/blobs/local-blob-store.js';
import { DatabaseBlobStore, PIECE_BYTES } from '../../src/blobs/database-blob-store.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function write(blobs: BlobStore, data: Buffer) {
  const w = blobs.createWriter();
  // Uneven pieces, so writes straddle the store's own piece boundaries.
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += 300_001) yield data.subarray(i, i + 300_001);
      })(),
    ),
    w.stream,
  );
  return w;
}

for (const name of STORES) {
  describe(`blob stores on ${name}`, async () => {
    const opts = await storeTestOptions(name);
    let store: TestStore;
    let db: Db;
    const kinds: [string, () => BlobStore][] = [
      ['local directory', () => new LocalBlobStore(path.join(store.dir, 'blobs'))],
      ['database', () => new DatabaseBlobStore(db)],
    ];
    before(async () => {
      if (opts.skip) return;
      store = await makeStore(name);
      db = await store.open();
    });
    after(async () => {
      if (opts.skip) return;
      await db.close();
      await store.cleanup();
    });

    test('local directory: start-up drops partial writes, but in a shared directory only old ones', opts, async () => {
      const root = path.join(store.dir, 'shared-blobs');
      fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
      const fresh = path.join(root, 'tmp', 'fresh');
      const stale = path.join(root, 'tmp', 'stale');
      fs.writeFileSync(fresh, 'another node is writing this');
      fs.writeFileSync(stale, 'a crash left this');
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      fs.utimesSync(stale, twoHoursAgo, twoHoursAgo);
      new LocalBlobStore(root, { shared: true });
      assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), ['fresh']);
      new LocalBlobStore(root);
      assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
    });

    for (const [label, make] of kinds) {
      test(`${label}: a committed blob reads back whole and by byte ranges across piece boundaries`, opts, async () => {
        const blobs = make();
        const data = randomBytes(PIECE_BYTES * 2 + 12345);
        const w = await write(blobs, data);
        await w.commit();
        assert.ok((await readAll(blobs.read(w.key))).equals(data));
        for (const [start, end] of [
          [0, 10],
          [PIECE_BYTES - 5, PIECE_BYTES + 5],
          [PIECE_BYTES * 2, data.length],
          [7, 7],
        ] as const) {
          assert.ok((await readAll(blobs.read(w.key, { start, end }))).equals(data.subarray(start, end)), `range ${start}-${end}`);
        }
        await blobs.delete(w.key);
        await assert.rejects(readAll(blobs.read(w.key)));
      });

      test(`${label}: an aborted blob never becomes readable`, opts, async () => {
        const blobs = make();
        const w = await write(blobs, randomBytes(1000));
        await w.abort();
        await assert.rejects(readAll(blobs.read(w.key)));
      });
    }
  });
}
