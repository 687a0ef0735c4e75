import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config.js';

/**
 * The data directory holds every workspace's files, the SQLite store (with the
 * signed-URL secret) and the default key: it and everything batchd creates in it are
 * owner-only. Modes are given explicitly where a directory or file is made and set with
 * chmod where one exists, so the result does not depend on the process's umask.
 * Windows has no such modes (ACLs instead): there the checks are skipped.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

const POSIX = process.platform !== 'win32';

/** The names batchd keeps at the top of a data dir, besides the SQLite files. */
const DATA_DIR_ENTRIES = ['models', 'blobs', path.join('blobs', 'tmp'), 'default-api-key'];

/**
 * Called once at start, before anything is written: refuses a data dir (or an existing
 * --blob-dir) that other users can write to, creates the data dir owner-only, and
 * makes what an earlier start left there owner-only (all of it, once, when the dir
 * itself was still open to others, as every data dir made before this check was).
 */
export function prepareDataDir(config: Pick<Config, 'dataDir' | 'blobDir'>): void {
  const dir = config.dataDir;
  if (config.blobDir) refuseIfWritableByOthers(path.resolve(config.blobDir), '--blob-dir (BATCHD_BLOB_DIR)');
  const existing = refuseIfWritableByOthers(dir, '--data-dir (BATCHD_DATA_DIR)');
  if (!existing) {
    // Parents get the default mode; only the data dir itself is private.
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
      fs.mkdirSync(dir, { mode: PRIVATE_DIR_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!POSIX) return;
  withClearError(dir, () => {
    if (existing && (existing.mode & 0o077) !== 0) makePrivateTree(dir);
    fs.chmodSync(dir, PRIVATE_DIR_MODE);
    for (const name of DATA_DIR_ENTRIES) chmodIfExists(path.join(dir, name));
    ensurePrivateDir(path.join(dir, 'models'));
    for (const name of fs.readdirSync(path.join(dir, 'models'))) chmodIfExists(path.join(dir, 'models', name));
  });
}

/** mkdir -p with owner-only modes for what it creates, and `dir` itself made owner-only. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (POSIX) fs.chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Makes `file` exist, empty if new, owner-only, with its directory; and makes its
 * sidecars (`file` + suffix) owner-only where they exist. For the SQLite file: SQLite
 * creates -wal and -shm with the database file's own mode.
 */
export function ensurePrivateFile(file: string, sidecars: string[] = []): void {
  // An existing directory keeps its mode: a --database path may be anywhere, even /tmp.
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_FILE_MODE));
  if (!POSIX) return;
  fs.chmodSync(file, PRIVATE_FILE_MODE);
  for (const suffix of sidecars) chmodIfExists(`${file}${suffix}`);
}

/** Writes `file` owner-only, whatever mode an earlier file of that name had. */
export function writePrivateFile(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.writeFileSync(file, content, { mode: PRIVATE_FILE_MODE });
  if (POSIX) fs.chmodSync(file, PRIVATE_FILE_MODE);
}

/** The directory's stat if it exists; throws, naming it and the fix, if others can write to it. */
function refuseIfWritableByOthers(dir: string, flag: string): fs.Stats | null {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat) return null;
  if (!stat.isDirectory()) throw new Error(`${flag} ${dir} is not a directory`);
  if (POSIX && (stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
    throw new Error(
      `refusing to start: ${flag} ${dir} is writable by ${stat.mode & 0o002 ? 'every user' : 'its group'} (mode ${mode}). ` +
        `It holds every workspace's files and the signing secret. Fix: chmod 700 '${dir}' (as its owner), or use another directory.`,
    );
  }
  return stat;
}

function chmodIfExists(p: string): void {
  const stat = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!stat || stat.isSymbolicLink()) return;
  fs.chmodSync(p, stat.isDirectory() ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE);
}

/** Everything under `root` owner-only (symbolic links are left alone, not followed). */
function makePrivateTree(root: string): void {
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    const p = path.join(root, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) makePrivateTree(p);
    chmodIfExists(p);
  }
}

function withClearError(dir: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EPERM' || e.code === 'EACCES') {
      throw new Error(
        `cannot make the data directory ${dir} owner-only (${e.code} on ${e.path ?? dir}): run batchd as the directory's owner, or chown it to this user`,
      );
    }
    throw err;
  }
}
