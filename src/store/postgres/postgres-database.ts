import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Logger } from '../../logger.js';
import type { Database } from '../schema.js';
import { withStoreErrors } from '../store-error.js';

// bigint columns hold unix-millisecond times and counters, all far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** How long a session may sit idle inside an open transaction before the server ends it. */
export const IDLE_IN_TRANSACTION_MS = 10_000;

/** Opens a PostgreSQL store with a pool of at most `poolSize` connections. */
export function openPostgres(url: string, poolSize = 10, log?: Logger): Kysely<Database> {
  // application_name shows batchd's sessions in pg_stat_activity (a URL's own application_name wins).
  // A process stopped inside a transaction (SIGSTOP, a debugger, a VM pause, a GC stall) would hold its
  // row locks for as long as it is stopped, and other workers' claims skip locked chunks: the server ends
  // such a session instead. batchd's transactions never wait on the client for long.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, application_name: 'batchd', idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS });
  // A session the server ends (restart, failover, pg_terminate_backend) is an 'error' event on its
  // client — on the pool while idle, on the client itself while checked out (inside a transaction,
  // between statements). Unhandled, either would end the process. The statement or transaction under
  // way fails (the work is retried or reclaimed), the pool drops the dead client and opens a new one.
  const lost = (err: Error) => log?.warn({ err: err.message }, 'PostgreSQL session lost');
  pool.on('error', lost);
  pool.on('connect', (client) => client.on('error', lost));
  // Serialization failures, deadlocks, a full disk and lost connections leave the driver as StoreError (store-error.ts).
  return new Kysely<Database>({ dialect: withStoreErrors(new PostgresDialect({ pool })) });
}
