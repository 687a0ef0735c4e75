import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '../schema.js';

// bigint columns hold unix-millisecond times and counters, all far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Opens a PostgreSQL store. `schema` (for tests) selects a search_path of its own. */
export function openPostgres(url: string, schema?: string): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  if (schema) {
    pool.on('connect', (client) => {
      client.query(`SET search_path TO "${schema.replace(/"/g, '')}"`).catch(() => undefined);
    });
  }
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
