import { Kysely, Migrator } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';
import { openSqlite } from './sqlite/sqlite-database.js';
import { openPostgres } from './postgres/postgres-database.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  kind: StoreKind;
  close(): Promise<void>;
}

/** `sqlite:<path>` (or a bare path) opens SQLite; `postgres://` / `postgresql://` opens PostgreSQL. */
export async function openDatabase(url: string): Promise<Db> {
  const isPg = /^postgres(ql)?:\/\//.test(url);
  const kysely = isPg ? openPostgres(url) : openSqlite(url.replace(/^sqlite:/, ''));
  const db: Db = { kysely, kind: isPg ? 'postgres' : 'sqlite', close: () => kysely.destroy() };
  await migrate(kysely);
  return db;
}

export async function migrate(kysely: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db: kysely, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
