import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Migrator, sql, type Kysely } from 'kysely';
import { createPgSchema, STORES, storeTestOptions, type StoreName } from '../helpers/stores.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { openSqlite } from '../../src/store/sqlite/sqlite-database.js';
import { openPostgres } from '../../src/store/postgres/postgres-database.js';
import { STATUSES_009 } from '../../src/store/migrations/009-job-status-check.js';
import { JOB_STATUSES } from '../../src/queue/states.js';
import type { Database } from '../../src/store/schema.js';

/** A store migrated up to 008 only, as an existing deployment's is before this change. */
async function storeAt008(name: StoreName): Promise<{ db: Kysely<Database>; to009(): Promise<void>; done(): Promise<void> }> {
  let db: Kysely<Database>;
  let cleanup: () => Promise<void>;
  if (name === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-009-'));
    db = openSqlite(path.join(dir, 'b.sqlite'));
    cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = await createPgSchema();
    db = openPostgres(schema.url, 2);
    cleanup = () => schema.drop();
  }
  const schemaName = name === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]!.s : undefined;
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema: schemaName });
  const { error } = await migrator.migrateTo('008-storage-quota');
  if (error) throw error;
  // Up to 009 exactly: later migrations add columns of their own.
  const to009 = async () => {
    const res = await migrator.migrateTo('009-job-status-check');
    if (res.error) throw res.error;
  };
  return { db, to009, done: async () => (await db.destroy(), await cleanup()) };
}

const job = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
  id,
  workspace: 'ws',
  created_by: 'key-1',
  endpoint: '/v1/chat/completions',
  model: 'm',
  agent_id: 'agent',
  metadata: '{"k":"v"}',
  timeout_hours: 24,
  status,
  input_files: '["f1"]',
  inline: 1,
  output_file: 'o',
  error_file: 'e',
  created_at: 1,
  started_at: 2,
  completed_at: 3,
  deadline_at: 4,
  cancel_requested_at: 5,
  total_requests: 6,
  completed_requests: 7,
  succeeded_requests: 8,
  failed_requests: 9,
  prompt_tokens: 10,
  completion_tokens: 11,
  total_tokens: 12,
  deleted_at: 13,
  idempotency_key: `idem-${id}`,
  ...extra,
});

async function indexes(db: Kysely<Database>, name: StoreName): Promise<string[]> {
  const q =
    name === 'sqlite'
      ? sql<{ d: string }>`select sql as d from sqlite_master where type = 'index' and tbl_name = 'batch_jobs' and sql is not null`
      : sql<{ d: string }>`select indexdef as d from pg_indexes where tablename = 'batch_jobs' and schemaname = current_schema()`;
  return (await q.execute(db)).rows.map((r) => r.d).sort();
}

test("migration 009 allows exactly the states module's statuses", () => {
  assert.deepEqual([...STATUSES_009].sort(), [...JOB_STATUSES].sort());
});

for (const name of STORES) {
  describe(`jobs.status CHECK on ${name}`, async () => {
    const opts = await storeTestOptions(name);

    test('migration 009 keeps every job row, column, default and index, and the CHECK refuses an unknown status', opts, async () => {
      const { db, to009, done } = await storeAt008(name);
      try {
        const rows = JOB_STATUSES.map((s, i) => job(`j${i}`, s));
        await db
          .insertInto('batch_jobs')
          .values(rows as never)
          .execute();
        // A row that takes every default (inline, the counters).
        await db
          .insertInto('batch_jobs')
          .values({
            id: 'dflt',
            workspace: 'ws',
            endpoint: 'e',
            model: 'm',
            timeout_hours: 1,
            status: 'QUEUED',
            input_files: '[]',
            created_at: 1,
            deadline_at: 2,
          } as never)
          .execute();
        await db
          .insertInto('job_chunks')
          .values({ job_id: 'j0', chunk_no: 0, blob_key: 'k', byte_start: 0, byte_end: 1, first_line: 0, line_count: 1 } as never)
          .execute();
        const before = await db.selectFrom('batch_jobs').selectAll().orderBy('id').execute();
        const indexesBefore = await indexes(db, name);
        assert.ok(indexesBefore.length >= 4, indexesBefore.join('\n'));

        await to009();

        assert.deepEqual(await db.selectFrom('batch_jobs').selectAll().orderBy('id').execute(), before);
        assert.deepEqual(await indexes(db, name), indexesBefore);
        assert.equal((await db.selectFrom('job_chunks').select('job_id').execute()).length, 1);
        // Defaults still apply to rows inserted after the rebuild.
        await db
          .insertInto('batch_jobs')
          .values({
            id: 'dflt2',
            workspace: 'ws',
            endpoint: 'e',
            model: 'm',
            timeout_hours: 1,
            status: 'RUNNING',
            input_files: '[]',
            created_at: 1,
            deadline_at: 2,
          } as never)
          .execute();
        const d = await db.selectFrom('batch_jobs').selectAll().where('id', '=', 'dflt2').executeTakeFirstOrThrow();
        assert.deepEqual(
          [d.inline, d.total_requests, d.succeeded_requests, d.total_tokens, d.idempotency_key].map((v) => (v === null ? null : Number(v))),
          [0, 0, 0, 0, null],
        );
        // The unique Idempotency-Key index is still enforced.
        await assert.rejects(
          db
            .insertInto('batch_jobs')
            .values(job('dup', 'QUEUED', { idempotency_key: 'idem-j0' }) as never)
            .execute(),
        );

        await assert.rejects(
          db
            .insertInto('batch_jobs')
            .values(job('bad', 'BOGUS') as never)
            .execute(),
          /check/i,
        );
        await assert.rejects(
          db
            .updateTable('batch_jobs')
            .set({ status: 'running' as never })
            .where('id', '=', 'j0')
            .execute(),
          /check/i,
        );
        assert.equal((await db.selectFrom('batch_jobs').select('status').where('id', '=', 'j0').executeTakeFirstOrThrow()).status, JOB_STATUSES[0]);
        if (name === 'sqlite') {
          const fk = await sql`pragma foreign_key_check`.execute(db);
          assert.equal(fk.rows.length, 0);
          const ok = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db);
          assert.equal(ok.rows[0]?.integrity_check, 'ok');
        }
      } finally {
        await done();
      }
    });
  });
}
