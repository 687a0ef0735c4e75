import { after, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kysely, sql, SqliteDialect } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import { openSqlite, relaxedTransaction } from '../../src/store/sqlite/sqlite-database.js';
import { StoreError } from '../../src/store/store-error.js';
import type { Database } from '../../src/store/schema.js';

/** PRAGMA synchronous: 2 = FULL, 1 = NORMAL. */
const level = async (db: Kysely<Database>) => (await sql<{ synchronous: number }>`pragma synchronous`.execute(db)).rows[0]!.synchronous;
const levelOf = (sqlite: BetterSqlite3.Database) => sqlite.pragma('synchronous', { simple: true }) as number;

describe('SQLite commit durability', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-relaxed-'));
  const file = path.join(dir, 'b.sqlite');
  const db = openSqlite(file);
  after(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('transactions commit at FULL, except relaxedTransaction (NORMAL), and FULL is back after', async () => {
    await sql`create table t (a integer primary key, b text)`.execute(db);
    assert.equal(await level(db), 2);
    assert.equal(await db.transaction().execute((tx) => level(tx)), 2);
    const inside = await relaxedTransaction(db, (sqlite) => {
      sqlite.prepare(`insert into t (b) values ('relaxed')`).run();
      return [levelOf(sqlite), sqlite.inTransaction];
    });
    assert.deepEqual(inside, [1, true]);
    assert.equal(await level(db), 2, 'the connection is back at FULL');
  });

  test('a relaxed transaction that fails rolls back and leaves the level at FULL', async () => {
    await assert.rejects(
      relaxedTransaction(db, (sqlite) => {
        sqlite.prepare(`insert into t (b) values ('gone')`).run();
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await level(db), 2);
    assert.equal((await sql<{ n: number }>`select count(*) as n from t where b = 'gone'`.execute(db)).rows[0]!.n, 0);
  });

  test('a relaxed transaction that cannot begin (another writer holds the lock) fails as busy and leaves the level at FULL', async () => {
    const other = new BetterSqlite3(file);
    other.pragma('busy_timeout = 0');
    other.exec('begin immediate');
    try {
      // busy_timeout is 5 s on batchd's connection; a short one here keeps the test fast.
      await sql`pragma busy_timeout = 50`.execute(db);
      const ran = mock.fn();
      await assert.rejects(relaxedTransaction(db, ran), (err) => err instanceof StoreError && err.kind === 'busy');
      assert.equal(ran.mock.callCount(), 0);
      assert.equal(await level(db), 2);
    } finally {
      other.exec('rollback');
      other.close();
      await sql`pragma busy_timeout = 5000`.execute(db);
    }
  });

  test('a relaxed transaction waits for a Kysely transaction under way: never runs inside it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const open = db.transaction().execute(async (tx) => {
      await sql`insert into t (b) values ('rolled back')`.execute(tx);
      await gate;
      throw new Error('undo');
    });
    await new Promise((resolve) => setImmediate(resolve));
    const relaxed = relaxedTransaction(db, (sqlite) => sqlite.prepare(`insert into t (b) values ('kept')`).run());
    release();
    await assert.rejects(open, /undo/);
    await relaxed;
    assert.deepEqual(
      (await sql<{ b: string }>`select b from t where b in ('rolled back', 'kept')`.execute(db)).rows.map((r) => r.b),
      ['kept'],
    );
    await sql`delete from t where b = 'kept'`.execute(db);
  });

  test('only a store openSqlite opened can take relaxed transactions', async () => {
    const other = new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
    try {
      await assert.rejects(
        relaxedTransaction(other, () => 1),
        /openSqlite/,
      );
    } finally {
      await other.destroy();
    }
  });

  test('result records are never read before they are durable: the WAL is fsynced first, once', async () => {
    await sql`create table job_results (line_no integer primary key)`.execute(db);
    const fsyncs = mock.method(fs, 'fdatasyncSync');
    try {
      const readResults = () => sql`select * from "job_results"`.execute(db);
      await relaxedTransaction(db, (sqlite) => sqlite.prepare(`insert into "job_results" (line_no) values (1)`).run());
      await sql`select * from t`.execute(db);
      assert.equal(fsyncs.mock.callCount(), 0, 'other reads do not wait for an fsync');
      await readResults();
      assert.equal(fsyncs.mock.callCount(), 1, 'the WAL was fsynced before the records were read');
      await readResults();
      assert.equal(fsyncs.mock.callCount(), 1, 'nothing new to make durable');
      // A FULL commit after a relaxed one fsyncs the WAL itself: no extra fsync is needed.
      await relaxedTransaction(db, (sqlite) => sqlite.prepare(`insert into "job_results" (line_no) values (2)`).run());
      await db.transaction().execute((tx) => sql`insert into t (b) values ('full')`.execute(tx));
      await readResults();
      assert.equal(fsyncs.mock.callCount(), 1);
    } finally {
      fsyncs.mock.restore();
    }
  });

  test('what a relaxed transaction committed is in the file: a second connection reads it', async () => {
    const reader = new BetterSqlite3(file, { readonly: true });
    try {
      assert.deepEqual(reader.prepare(`select b from t order by a`).all(), [{ b: 'relaxed' }, { b: 'full' }]);
    } finally {
      reader.close();
    }
  });
});
