import type { Logger } from '../logger.js';
import { Kysely, Migrator, sql } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';
import { openSqlite } from './sqlite/sqlite-database.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  kind: StoreKind;
  close(): Promise<void>;
}

/**
 * `sqlite:<path>` (or a bare path) opens SQLite; `postgres://` / `postgresql://` opens
 * PostgreSQL with a pool of at most `pgPoolSize` connections.
 */
export async function openDatabase(url: string, opts: { pgPoolSize?: number; log?: Logger } = {}): Promise<Db> {
  const isPg = /^postgres(ql)?:\/\//.test(url);
  // pg is loaded only for a PostgreSQL store: an embedded server does not pay its memory.
  const kysely = isPg
    ? (await import('./postgres/postgres-database.js')).openPostgres(url, opts.pgPoolSize, opts.log)
    : openSqlite(url.replace(/^sqlite:/, ''));
  const db: Db = { kysely, kind: isPg ? 'postgres' : 'sqlite', close: () => kysely.destroy() };
  await migrate(kysely, db.kind);
  return db;
}

export async function migrate(kysely: Kysely<Database>, kind: StoreKind): Promise<void> {
  // Kysely looks for its bookkeeping tables across all schemas; pin it to ours so
  // several batchd deployments (or test schemas) can share one PostgreSQL database.
  const schema = kind === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(kysely)).rows[0]?.s : undefined;
  const migrator = new Migrator({ db: kysely, provider: migrationProvider, migrationTableSchema: schema });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
