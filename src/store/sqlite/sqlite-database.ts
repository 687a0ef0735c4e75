import fs from 'node:fs';
import { ensurePrivateFile } from '../../data-dir.js';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely';
import type { Database } from '../schema.js';
import { toStoreError, withStoreErrors } from '../store-error.js';

/** Opens the embedded store: one file, WAL, so readers never block the writer. */
export function openSqlite(file: string): Kysely<Database> {
  if (file !== ':memory:') ensurePrivateFile(file, ['-wal', '-shm', '-journal']);
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a commit survives power loss, not only a process crash. Only transactions run
  // by relaxedTransaction() commit at NORMAL (see there).
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const durability = new Durability(file);
  // SQLITE_BUSY/LOCKED/FULL leave the driver as StoreError (store-error.ts).
  const db = new Kysely<Database>({
    dialect: withStoreErrors(new ImmediateSqliteDialect(durability, { database: withStatementCache(sqlite, durability) })),
  });
  handles.set(db, new RelaxedWriter(sqlite, durability));
  return db;
}

/** The connection under each store openSqlite made, for relaxedTransaction. */
const handles = new WeakMap<Kysely<Database>, RelaxedWriter>();

/**
 * Runs `fn` synchronously, on the store's one connection, as one IMMEDIATE transaction
 * that commits at `synchronous = NORMAL` instead of FULL: in WAL mode the commit is
 * written to the WAL but not fsynced, so the event loop is not held for an fsync (~6 ms
 * here) per commit. Used for the runner's result records only, where it is safe:
 * - a process crash (kill -9, OOM) loses nothing: the WAL's pages are in the OS's cache;
 * - a power loss or OS crash can lose only the last such commits, each whole, since the
 *   WAL is replayed up to its last intact commit: the store is back at an earlier
 *   consistent state, and the lines whose records went are run again under the usual
 *   lease rules, each recorded once;
 * - nothing acknowledged depends on them: everything a client is answered for (an upload,
 *   a job created, cancelled or finished) commits at FULL, and an fsync of the WAL makes
 *   every earlier commit durable too; and before result records are read (a running
 *   job's output file, error groups) the WAL is fsynced first, so a client never reads a
 *   record that could still be lost.
 * The level is chosen here, where the transaction begins, rather than carried by async
 * context (AsyncLocalStorage turns on promise hooks for the whole process: ~6% of the
 * upstream path's CPU time). Kysely's connection is held meanwhile, so no Kysely
 * transaction is open on it and none begins until this one ended. `fn` gets the
 * better-sqlite3 handle to run its statements on (they may be prepared once per handle).
 * PostgreSQL has no such path (record-postgres.ts).
 */
export function relaxedTransaction<T>(db: Kysely<Database>, fn: (sqlite: BetterSqlite3.Database) => T): Promise<T> {
  const writer = handles.get(db);
  if (!writer) return Promise.reject(new Error('relaxedTransaction needs a store opened by openSqlite'));
  return db.connection().execute(async () => writer.run(fn));
}

/** One connection's relaxed transactions: NORMAL before the transaction begins, FULL again once it ended. */
class RelaxedWriter {
  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly durability: Durability,
  ) {}

  run<T>(fn: (sqlite: BetterSqlite3.Database) => T): T {
    // The level can only change outside a transaction. Compiled anew each time: this pragma
    // acts when compiled, so a statement prepared ahead and kept did nothing on its first run.
    this.sqlite.exec('pragma synchronous = normal');
    try {
      const result = this.sqlite.transaction(fn).immediate(this.sqlite);
      this.durability.unsynced = true;
      return result;
    } catch (err) {
      // Rolled back, or never begun (busy): nothing was committed.
      throw toStoreError(err);
    } finally {
      this.sqlite.exec('pragma synchronous = full');
    }
  }
}

/** Which commits of one connection are not yet fsynced, and making them so. */
class Durability {
  /** A NORMAL commit happened since the WAL was last fsynced. */
  unsynced = false;
  private wal: number | null = null;

  constructor(private readonly file: string) {}

  /** Fsyncs the WAL if a relaxed commit is not durable yet (what a FULL commit would have done). */
  sync(): void {
    if (!this.unsynced) return;
    if (this.file !== ':memory:') {
      // The WAL file lives as long as the connection; fsyncing any descriptor of it flushes SQLite's writes.
      this.wal ??= fs.openSync(`${this.file}-wal`, 'r');
      fs.fdatasyncSync(this.wal);
    }
    this.unsynced = false;
  }

  close(): void {
    if (this.wal !== null) fs.closeSync(this.wal);
    this.wal = null;
  }
}

/** A read of result records: the WAL is fsynced before it runs (see relaxedTransaction). */
const READS_RESULTS = /^\s*select\b[\s\S]*"job_results"/i;

/**
 * Transactions begin IMMEDIATE: a deferred one that reads first and writes later cannot
 * wait for another writer's lock (SQLite answers SQLITE_BUSY at once to avoid deadlock),
 * while an immediate one takes the write lock up front and honours busy_timeout. Kysely's
 * transactions commit at FULL, which fsyncs the WAL: relaxed commits before are durable then.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    private readonly durability: Durability,
    config: ConstructorParameters<typeof SqliteDialect>[0],
  ) {
    super(config);
  }

  override createDriver() {
    const driver = super.createDriver() as SqliteDriver;
    const d = this.durability;
    const run = (connection: DatabaseConnection, text: string) => connection.executeQuery(CompiledQuery.raw(text));
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await run(connection, 'begin immediate');
    };
    driver.commitTransaction = async (connection: DatabaseConnection) => {
      await run(connection, 'commit');
      d.unsynced = false;
    };
    const destroy = driver.destroy.bind(driver);
    driver.destroy = async () => {
      d.close();
      await destroy();
    };
    return driver;
  }
}

/**
 * Kysely prepares every query anew; the ledger runs the same few statements thousands
 * of times a second, so prepared statements are kept by SQL text (measured: preparing
 * was ~7% of a batch's CPU time). Bounded, since a query's text can embed list sizes.
 */
function withStatementCache(sqlite: BetterSqlite3.Database, durability: Durability) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (text: string) => {
      if (durability.unsynced && READS_RESULTS.test(text)) durability.sync();
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
