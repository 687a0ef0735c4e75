import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from './store/schema.js';
import { addKey, countKeys, mintKey } from './store/keys.js';

/**
 * Seeds BATCHD_API_KEYS, and when no key exists at all creates one for workspace
 * `default`, keeps it in the data dir (mode 0600) and returns it so the server can print it.
 */
export async function bootstrapKeys(db: Kysely<Database>, dataDir: string, seeds: { workspace: string; key: string }[], now: number): Promise<string | null> {
  for (const s of seeds) await addKey(db, s.workspace, s.key, 'BATCHD_API_KEYS', now);
  const file = path.join(dataDir, 'default-api-key');
  if ((await countKeys(db)) === 0) {
    const key = mintKey();
    await addKey(db, 'default', key, 'generated at first start', now);
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
    return key;
  }
  if (seeds.length === 0 && fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  return null;
}
