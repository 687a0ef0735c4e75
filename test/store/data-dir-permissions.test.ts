import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { prepareDataDir } from '../../src/data-dir.js';
import { startChildServer } from '../helpers/child-process.js';
import { chatLines } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';

const posix = process.platform !== 'win32';

/** Every path under `root` (itself included), relative, with its permission bits. */
function modes(root: string): Map<string, number> {
  const out = new Map<string, number>([['.', fs.statSync(root).mode & 0o7777]]);
  for (const entry of fs.readdirSync(root, { recursive: true }) as string[]) out.set(entry, fs.lstatSync(path.join(root, entry)).mode & 0o7777);
  return out;
}

/** `batchd serve` over `dataDir` in a child process whose umask is `umask` (set before any of batchd's code runs). */
function serveWithUmask(dataDir: string, umask: number, args: string[] = []) {
  const setUmask = `--import "data:text/javascript,process.umask(0o${umask.toString(8)})"`;
  return startChildServer(['serve', '--port', '0', '--data-dir', dataDir, ...args], {
    BATCHD_FROM_SOURCE: '1',
    BATCHD_API_KEYS: '',
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${setUmask}`.trim(),
  });
}

async function uploadOne(url: string, key: string) {
  const form = new FormData();
  form.append('file', new Blob([`${JSON.stringify(chatLines(1)[0])}\n`]), 'in.jsonl');
  form.append('purpose', 'batch');
  const res = await fetch(`${url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  assert.equal(res.status, 200, await res.text());
}

const isGeneratedModel = (rel: string) => /^models\/.+\.gguf$/.test(rel);

describe('the data directory and everything in it are owner-only', { skip: !posix && 'POSIX modes only' }, () => {
  for (const umask of [0o022, 0o000]) {
    test(`a fresh start under umask 0${umask.toString(8).padStart(3, '0')}: data dir, database with -wal/-shm, blobs, temp dir, key file, models dir`, async (t) => {
      const dataDir = path.join(tempDir(t), 'data');
      const child = await serveWithUmask(dataDir, umask, ['--no-worker']);
      t.after(() => child.stop());
      await uploadOne(child.url, fs.readFileSync(path.join(dataDir, 'default-api-key'), 'utf8').trim());
      const seen = modes(dataDir); // while running: -wal and -shm exist
      const blob = [...seen.keys()].find((p) => /^blobs\/[0-9a-f]{2}\/[0-9a-f-]{36}$/.test(p));
      for (const expected of [
        '.',
        'batchd.sqlite',
        'batchd.sqlite-wal',
        'batchd.sqlite-shm',
        'default-api-key',
        'models',
        'blobs',
        'blobs/tmp',
        blob && path.dirname(blob),
        blob,
      ]) {
        assert.ok(expected && seen.has(expected), `${expected} exists: ${[...seen.keys()].join(' ')}`);
      }
      const loose = [...seen].filter(([rel, mode]) => mode !== (fs.lstatSync(path.join(dataDir, rel)).isDirectory() ? 0o700 : 0o600));
      assert.deepEqual(
        loose.map(([rel, mode]) => `${rel} ${mode.toString(8)}`),
        [],
      );
    });
  }

  test('a restart makes what an earlier start left behind owner-only too (generated models included)', async (t) => {
    const dataDir = path.join(tempDir(t), 'data');
    await (await serveWithUmask(dataDir, 0o000, ['--no-worker'])).stop();
    const again = await serveWithUmask(dataDir, 0o000, ['--no-worker']);
    t.after(() => again.stop());
    const seen = modes(dataDir);
    assert.ok([...seen.keys()].some(isGeneratedModel), 'the first start generated a model');
    const loose = [...seen].filter(([, mode]) => (mode & 0o077) !== 0);
    assert.deepEqual(
      loose.map(([rel, mode]) => `${rel} ${mode.toString(8)}`),
      [],
    );
  });

  test('a world-writable data dir is refused with a message naming it and the fix, and nothing is written to it', async (t) => {
    const dataDir = path.join(tempDir(t), 'open');
    fs.mkdirSync(dataDir);
    fs.chmodSync(dataDir, 0o777);
    await assert.rejects(serveWithUmask(dataDir, 0o022), (e: Error) => {
      assert.match(e.message, /refusing to start: --data-dir \(BATCHD_DATA_DIR\) .*open is writable by every user \(mode 0777\)/);
      assert.match(e.message, new RegExp(`chmod 700 '${dataDir}'`));
      return true;
    });
    assert.deepEqual(fs.readdirSync(dataDir), []);
  });

  test('a group-writable data dir or --blob-dir is refused; a merely readable old one is tightened, contents included', (t) => {
    const root = tempDir(t);
    const group = path.join(root, 'group');
    fs.mkdirSync(group);
    fs.chmodSync(group, 0o770);
    assert.throws(() => prepareDataDir({ dataDir: group, blobDir: null }), /writable by its group \(mode 0770\).*chmod 700/);
    const blobDir = path.join(root, 'shared-blobs');
    fs.mkdirSync(blobDir);
    fs.chmodSync(blobDir, 0o777);
    assert.throws(
      () => prepareDataDir({ dataDir: path.join(root, 'fine'), blobDir }),
      /--blob-dir \(BATCHD_BLOB_DIR\) .*shared-blobs is writable by every user/,
    );

    // A data dir from before this check: 0755 dirs, 0644 files.
    const old = path.join(root, 'old');
    fs.mkdirSync(path.join(old, 'blobs', 'ab'), { recursive: true });
    fs.writeFileSync(path.join(old, 'batchd.sqlite'), '');
    fs.writeFileSync(path.join(old, 'blobs', 'ab', 'abcdef'), 'bytes');
    for (const p of [old, path.join(old, 'blobs'), path.join(old, 'blobs', 'ab')]) fs.chmodSync(p, 0o755);
    for (const p of [path.join(old, 'batchd.sqlite'), path.join(old, 'blobs', 'ab', 'abcdef')]) fs.chmodSync(p, 0o644);
    prepareDataDir({ dataDir: old, blobDir: null });
    const loose = [...modes(old)].filter(([rel, mode]) => mode !== (fs.lstatSync(path.join(old, rel)).isDirectory() ? 0o700 : 0o600));
    assert.deepEqual(loose, []);
  });
});
