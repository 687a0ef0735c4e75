import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './store/database.js';
import { addKey, countKeys, mintKey } from './store/keys.js';
import { writePrivateFile } from './data-dir.js';

/** Seeded keys shorter than this get a warning at start: a minted key has 35 characters (24 random bytes). */
export const MIN_SEED_KEY_LENGTH = 32;

export interface BootstrapOutput {
  /** Start-up lines: the generated key, or where it is kept. */
  log: (line: string) => void;
  /** Warnings (the server passes stderr). */
  warn: (line: string) => void;
}

/**
 * Seeds BATCHD_API_KEYS (warning once about short ones), and when no key exists at all
 * creates one for workspace `default`, keeps it in the data dir (mode 0600) and prints
 * it: this once only, since start-up output tends to end up in logs that others read.
 * Later starts print the key file's path instead.
 */
export async function bootstrapKeys(
  { kysely: db }: Db,
  dataDir: string,
  seeds: { workspace: string; key: string }[],
  now: number,
  out: BootstrapOutput,
): Promise<void> {
  const short = seeds.filter((s) => s.key.length < MIN_SEED_KEY_LENGTH);
  if (short.length) {
    out.warn(
      `batchd: warning: BATCHD_API_KEYS has keys shorter than ${MIN_SEED_KEY_LENGTH} characters (workspace ${short.map((s) => `'${s.workspace}'`).join(', ')}); ` +
        'short keys can be guessed: use long random keys, e.g. from `batchd keys create`.',
    );
  }
  for (const s of seeds) await addKey(db, s.workspace, s.key, 'BATCHD_API_KEYS', now);
  const file = path.join(dataDir, 'default-api-key');
  if ((await countKeys(db)) === 0) {
    const key = mintKey();
    await addKey(db, 'default', key, 'generated at first start', now);
    writePrivateFile(file, `${key}\n`);
    out.log(`batchd API key for workspace 'default': ${key} (printed this once; kept in ${file})`);
    return;
  }
  if (seeds.length === 0 && fs.existsSync(file)) out.log(`batchd API key for workspace 'default': in ${file}`);
}
