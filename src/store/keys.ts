import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface Principal {
  workspace: string;
  keyId: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function mintKey(): string {
  return `bd-${randomBytes(24).toString('base64url')}`;
}

/** Stores a key as its sha256; the plaintext is never written. Idempotent for the same key. */
export async function addKey(db: Kysely<Database>, workspace: string, key: string, label: string | null, now: number): Promise<string> {
  const hash = sha256(key);
  const existing = await db.selectFrom('api_keys').select(['id', 'workspace']).where('key_hash', '=', hash).executeTakeFirst();
  if (existing) {
    if (existing.workspace !== workspace) throw new Error(`that API key is already assigned to workspace '${existing.workspace}'`);
    return existing.id;
  }
  const id = randomUUID();
  await db
    .insertInto('api_keys')
    .values({ id, workspace, key_hash: hash, hash_prefix: hash.slice(0, 8), label, created_at: now })
    .execute();
  return id;
}

/**
 * Finds the workspace of a presented key. Rows are found by an 8-hex prefix of the
 * hash and the full hashes compared with timingSafeEqual, so response time does not
 * reveal how much of a guessed key's hash matched.
 */
export async function authenticate(db: Kysely<Database>, key: string): Promise<Principal | null> {
  const hash = Buffer.from(sha256(key), 'hex');
  const candidates = await db
    .selectFrom('api_keys')
    .select(['id', 'workspace', 'key_hash'])
    .where('hash_prefix', '=', hash.toString('hex').slice(0, 8))
    .execute();
  let found: Principal | null = null;
  for (const c of candidates) {
    if (timingSafeEqual(Buffer.from(c.key_hash, 'hex'), hash)) found = { workspace: c.workspace, keyId: c.id };
  }
  return found;
}

export async function countKeys(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Listing and revoking keys, for `batchd keys ls|revoke`. Keys are managed against the
 * store (as `keys create` is), not over the API: there is no admin role in the API, and
 * a key of one workspace must not see another's keys.
 */
export interface KeyRow {
  id: string;
  workspace: string;
  label: string | null;
  created_at: number;
}

export async function listKeys(db: Kysely<Database>, workspace?: string): Promise<KeyRow[]> {
  let q = db.selectFrom('api_keys').select(['id', 'workspace', 'label', 'created_at']).orderBy('workspace').orderBy('created_at');
  if (workspace) q = q.where('workspace', '=', workspace);
  return (await q.execute()).map((r) => ({ ...r, created_at: Number(r.created_at) }));
}

/**
 * Deletes the key whose id is `idOrKey`, or whose plaintext it is (hashed here, never
 * stored). Authentication reads the table on every request, so a revoked key is refused
 * from the next request on, by every server sharing the store. Returns the deleted row.
 */
export async function revokeKey(db: Kysely<Database>, idOrKey: string): Promise<KeyRow | undefined> {
  const hash = sha256(idOrKey);
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'workspace', 'label', 'created_at'])
    .where((eb) => eb.or([eb('id', '=', idOrKey), eb('key_hash', '=', hash)]))
    .executeTakeFirst();
  if (!row) return undefined;
  await db.deleteFrom('api_keys').where('id', '=', row.id).execute();
  return { ...row, created_at: Number(row.created_at) };
}
