import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobStore, BlobWriter } from './blob-store.js';
import { ensurePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../data-dir.js';

/** A shared directory's partial writes younger than this may be another node's upload in progress. */
const SHARED_TMP_GRACE_MS = 60 * 60_000;

/**
 * Blobs as files in a directory. Writes go to `tmp/` and are renamed into place after
 * fsync, so a blob path exists only once its bytes are complete.
 */
export class LocalBlobStore implements BlobStore {
  private readonly tmpDir: string;

  /** `shared`: other processes (API nodes on other hosts) write to the same directory. */
  constructor(
    private readonly root: string,
    opts: { shared?: boolean } = {},
  ) {
    this.tmpDir = path.join(root, 'tmp');
    ensurePrivateDir(this.tmpDir);
    // Leftovers of uploads that a crash interrupted are never referenced: drop them. In a
    // shared directory only old ones: a fresh one may be another node's upload under way.
    const cutoff = opts.shared ? Date.now() - SHARED_TMP_GRACE_MS : Infinity;
    for (const name of fs.readdirSync(this.tmpDir)) {
      const file = path.join(this.tmpDir, name);
      const mtime = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
      if (mtime < cutoff) fs.rmSync(file, { force: true });
    }
  }

  private pathOf(key: string): string {
    if (!/^[0-9a-f-]{36}$/.test(key)) throw new Error(`invalid blob key '${key}'`);
    return path.join(this.root, key.slice(0, 2), key);
  }

  createWriter(): BlobWriter {
    const key = randomUUID();
    const tmp = path.join(this.tmpDir, key);
    const stream = fs.createWriteStream(tmp, { flags: 'wx', mode: PRIVATE_FILE_MODE });
    const finalPath = this.pathOf(key);
    let done = false;
    return {
      key,
      stream,
      commit: async () => {
        const fh = await fsp.open(tmp, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fsp.mkdir(path.dirname(finalPath), { recursive: true, mode: PRIVATE_DIR_MODE });
        await fsp.rename(tmp, finalPath);
        done = true;
      },
      abort: async () => {
        if (done) return;
        done = true;
        // The file is opened asynchronously: wait for the stream to close, or an abort right
        // after creation would remove the file before it exists and leave it behind.
        await new Promise<void>((resolve) => {
          if (stream.closed) return resolve();
          stream.once('close', () => resolve());
          stream.destroy();
        });
        await fsp.rm(tmp, { force: true });
      },
    };
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    const opts = range ? { start: range.start, end: range.end - 1 } : {};
    if (range && range.end <= range.start) return fs.createReadStream('/dev/null');
    return fs.createReadStream(this.pathOf(key), opts);
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.pathOf(key), { force: true });
  }
}
