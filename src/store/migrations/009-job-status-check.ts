import { SqliteAdapter, sql, type Kysely } from 'kysely';

/**
 * The job statuses this migration allows: Mistral's seven, as src/queue/states.ts had
 * them when it was written. A migration is a frozen record, so the list is spelled out
 * here rather than imported (a test checks that it still equals JOB_STATUSES; a new
 * status needs a new migration).
 */
export const STATUSES_009 = ['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED', 'CANCELLATION_REQUESTED'] as const;

const CONSTRAINT = 'batch_jobs_status_check';
const CHECK = `check (status in (${STATUSES_009.map((s) => `'${s}'`).join(', ')}))`;

/** A CHECK on batch_jobs.status: a status outside the state machine is refused by the store itself. */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (isSqlite(db)) await rebuildWithCheck(db);
  else await sql`alter table batch_jobs add constraint ${sql.id(CONSTRAINT)} ${sql.raw(CHECK)}`.execute(db);
}

/** Which store runs the migration, read from the dialect (a failed probe would abort PostgreSQL's migration transaction). */
const isSqlite = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof SqliteAdapter;

/**
 * SQLite cannot add a CHECK to an existing table: it is rebuilt the way SQLite's ALTER
 * TABLE documentation prescribes. The new table's DDL is the old one's, as SQLite stored
 * it (every column, type, default and constraint, including columns later migrations
 * added), with the CHECK appended; rows are copied column for column, and every index
 * is created again from its stored DDL. No other table refers to batch_jobs.
 */
async function rebuildWithCheck(db: Kysely<unknown>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const table = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'batch_jobs'`.execute(tx);
    const ddl = table.rows[0]?.sql;
    if (!ddl) throw new Error('batch_jobs is missing');
    const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = 'batch_jobs' and sql is not null`.execute(tx);
    const close = ddl.lastIndexOf(')');
    const created = `${ddl.slice(0, close)}, constraint "${CONSTRAINT}" ${CHECK}${ddl.slice(close)}`.replace(
      /^create table\s+"?batch_jobs"?/i,
      'create table "batch_jobs_009"',
    );
    if (!created.startsWith('create table "batch_jobs_009"')) throw new Error(`unexpected batch_jobs DDL: ${ddl}`);
    await sql.raw(created).execute(tx);
    await sql`insert into batch_jobs_009 select * from batch_jobs`.execute(tx);
    await sql`drop table batch_jobs`.execute(tx);
    await sql`alter table batch_jobs_009 rename to batch_jobs`.execute(tx);
    for (const index of indexes.rows) await sql.raw(index.sql).execute(tx);
  });
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isSqlite(db)) await sql`alter table batch_jobs drop constraint if exists ${sql.id(CONSTRAINT)}`.execute(db);
}
