import { ensurePrivateFile } from '../../data-dir.js';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely';
import type { Database } from '../schema.js';
import { withStoreErrors } from '../store-error.js';

/** Opens the embedded store: one file, WAL, so readers never block the writer. */
export function openSqlite(file: string): Kysely<Database> {
  if (file !== ':memory:') ensurePrivateFile(file, ['-wal', '-shm', '-journal']);
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a commit survives power loss, not only a process crash; group commits keep it cheap.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // SQLITE_BUSY/LOCKED/FULL leave the driver as StoreError (store-error.ts).
  return new Kysely<Database>({ dialect: withStoreErrors(new ImmediateSqliteDialect({ database: withStatementCache(sqlite) })) });
}

/**
 * Transactions begin IMMEDIATE: a deferred one that reads first and writes later cannot
 * wait for another writer's lock (SQLite answers SQLITE_BUSY at once to avoid deadlock),
 * while an immediate one takes the write lock up front and honours busy_timeout.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver() {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

/**
 * Kysely prepares every query anew; the ledger runs the same few statements thousands
 * of times a second, so prepared statements are kept by SQL text (measured: preparing
 * was ~7% of a batch's CPU time). Bounded, since a query's text can embed list sizes.
 */
function withStatementCache(sqlite: BetterSqlite3.Database) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (text: string) => {
      let stmt = cache.get(text);
      if (!stmt) {
        stmt = sqlite.prepare(text);
        if (cache.size >= 500) cache.delete(cache.keys().next().value!);
        cache.set(text, stmt);
      }
      return stmt;
    },
  };
}
