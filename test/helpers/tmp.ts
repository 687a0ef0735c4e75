import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh directory under the OS temp dir, removed (with everything in it) by `t.after`. */
export function tempDir(t: { after(fn: () => void | Promise<void>): void }, prefix = 'batchd-tmp-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
