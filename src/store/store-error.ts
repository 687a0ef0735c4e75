import type { DatabaseConnection, Dialect, Driver, QueryResult } from 'kysely';

/**
 * A store failure that is the store's state, not the request's fault: `busy` (locked,
 * serialization conflict or deadlock: nothing changed, retry), `full` (disk or database
 * full: nothing stored) or `unavailable` (the database is unreachable: down, restarting,
 * failing over). Raised at the driver seam (`withStoreErrors`), so the layers above see
 * one error type whatever the database; api/app.ts renders it from the error catalogue.
 * Every other driver error (constraint violations, SQL errors) passes through unchanged.
 */
export type StoreFailure = 'busy' | 'full' | 'unavailable';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreFailure,
    /** The driver's own code (SQLITE_BUSY, a PostgreSQL SQLSTATE, ECONNRESET…), for logs. */
    readonly driverCode: string | undefined,
    cause: unknown,
  ) {
    super(`store ${kind}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'StoreError';
  }
}

const BUSY = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', '40001', '40P01']);
const FULL = new Set(['SQLITE_FULL', '53100', 'ENOSPC', 'EDQUOT']);
/** Socket errors, and SQLSTATE 57P01-03 (admin shutdown, crash shutdown, cannot connect now). Class 08 is matched below. */
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);
/** What pg says when a session died under a query or the pool cannot open one. */
const UNAVAILABLE_MESSAGE = /Connection terminated|not queryable|timeout exceeded when trying to connect/i;

/** Which store failure an error from SQLite, PostgreSQL or the file system is, if any. */
export function classifyStoreFailure(err: unknown): StoreFailure | null {
  if (err instanceof StoreError) return err.kind;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (BUSY.has(code)) return 'busy';
  if (FULL.has(code)) return 'full';
  if (UNAVAILABLE.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return 'unavailable';
  return UNAVAILABLE_MESSAGE.test(typeof e?.message === 'string' ? e.message : '') ? 'unavailable' : null;
}

/** The error as a StoreError when it is a store failure; anything else as it is. */
export function toStoreError(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const kind = classifyStoreFailure(err);
  return kind ? new StoreError(kind, (err as { code?: string }).code, err) : err;
}

async function guarded<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw toStoreError(err);
  }
}

/**
 * The dialect with its driver wrapped: every query, stream, transaction statement and
 * connection checkout rethrows store failures as StoreError. The wrapped connection
 * stands for the driver's own, which the driver gets back for its own calls.
 */
export function withStoreErrors(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => guardedDriver(dialect.createDriver()),
  };
}

function guardedDriver(driver: Driver): Driver {
  const inner = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const own = (c: DatabaseConnection) => inner.get(c) ?? c;
  const wrap = (c: DatabaseConnection): DatabaseConnection => {
    const w: DatabaseConnection = {
      executeQuery: (q) => guarded(() => c.executeQuery(q)),
      streamQuery: <R>(q: Parameters<DatabaseConnection['streamQuery']>[0], chunkSize?: number) => guardedStream<R>(c.streamQuery<R>(q, chunkSize)),
    };
    inner.set(w, c);
    return w;
  };
  const g: Driver = {
    init: () => guarded(() => driver.init()),
    acquireConnection: async () => wrap(await guarded(() => driver.acquireConnection())),
    beginTransaction: (c, settings) => guarded(() => driver.beginTransaction(own(c), settings)),
    commitTransaction: (c) => guarded(() => driver.commitTransaction(own(c))),
    rollbackTransaction: (c) => guarded(() => driver.rollbackTransaction(own(c))),
    releaseConnection: (c) => driver.releaseConnection(own(c)),
    destroy: () => driver.destroy(),
  };
  if (driver.savepoint) g.savepoint = (c, name, compile) => guarded(() => driver.savepoint!(own(c), name, compile));
  if (driver.rollbackToSavepoint) g.rollbackToSavepoint = (c, name, compile) => guarded(() => driver.rollbackToSavepoint!(own(c), name, compile));
  if (driver.releaseSavepoint) g.releaseSavepoint = (c, name, compile) => guarded(() => driver.releaseSavepoint!(own(c), name, compile));
  return g;
}

async function* guardedStream<R>(rows: AsyncIterableIterator<QueryResult<R>>): AsyncIterableIterator<QueryResult<R>> {
  try {
    yield* rows;
  } catch (err) {
    throw toStoreError(err);
  }
}
