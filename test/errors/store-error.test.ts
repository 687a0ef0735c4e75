import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openSqlite } from '../../src/store/sqlite/sqlite-database.js';
import { classifyStoreFailure, StoreError } from '../../src/store/store-error.js';
import { toApiError } from '../../src/api/app.js';

const withCode = (code: string, message = 'driver failure') => Object.assign(new Error(message), { code });

describe('StoreError: store failures classified at the driver', () => {
  test('SQLite, PostgreSQL and socket codes map to busy, full or unavailable; other errors are not store failures', () => {
    const cases: [Error, string | null][] = [
      [withCode('SQLITE_BUSY'), 'busy'],
      [withCode('SQLITE_LOCKED'), 'busy'],
      [withCode('40001'), 'busy'],
      [withCode('40P01'), 'busy'],
      [withCode('SQLITE_FULL'), 'full'],
      [withCode('53100'), 'full'],
      [withCode('ENOSPC'), 'full'],
      [withCode('EDQUOT'), 'full'],
      [withCode('08006'), 'unavailable'],
      [withCode('57P01'), 'unavailable'],
      [withCode('ECONNRESET'), 'unavailable'],
      [new Error('Connection terminated unexpectedly'), 'unavailable'],
      [withCode('23505', 'duplicate key value violates unique constraint'), null],
      [withCode('SQLITE_CONSTRAINT_UNIQUE'), null],
      [new Error('syntax error'), null],
    ];
    for (const [err, kind] of cases) assert.equal(classifyStoreFailure(err), kind, `${(err as { code?: string }).code ?? err.message}`);
  });

  test('a real SQLite "database or disk is full" leaves the store as StoreError full, rendered 507 insufficient_storage', async () => {
    const db = openSqlite(':memory:');
    try {
      await sql`create table t (x blob)`.execute(db);
      const pages = (await sql<{ page_count: number }>`pragma page_count`.execute(db)).rows[0]!.page_count;
      await sql.raw(`pragma max_page_count = ${pages + 1}`).execute(db);
      const err = await sql`insert into t values (zeroblob(1000000))`.execute(db).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreError, `got ${String(err)}`);
      assert.equal(err.kind, 'full');
      assert.equal(err.driverCode, 'SQLITE_FULL');
      const api = toApiError(err);
      assert.deepEqual([api.status, api.code, api.type], [507, 'insufficient_storage', 'storage_error']);
    } finally {
      await db.destroy();
    }
  });

  test('other driver errors (a constraint violation) pass the seam unchanged', async () => {
    const db = openSqlite(':memory:');
    try {
      await sql`create table u (id text primary key)`.execute(db);
      await sql`insert into u values ('a')`.execute(db);
      const err = await sql`insert into u values ('a')`.execute(db).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(!(err instanceof StoreError));
      assert.equal((err as { code?: string }).code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
      // A transaction whose statement fails so is rolled back and the error reaches the caller as it was.
      const inTx = await db
        .transaction()
        .execute(async (tx) => sql`insert into u values ('a')`.execute(tx))
        .then(
          () => null,
          (e: unknown) => e,
        );
      assert.equal((inTx as { code?: string }).code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
    } finally {
      await db.destroy();
    }
  });

  test("StoreError kinds render as the catalogue's store codes", () => {
    const render = (kind: 'busy' | 'full' | 'unavailable') => toApiError(new StoreError(kind, undefined, new Error('x')));
    assert.deepEqual([render('busy').status, render('busy').code], [503, 'store_busy']);
    assert.deepEqual([render('unavailable').status, render('unavailable').code], [503, 'store_unavailable']);
    assert.deepEqual([render('full').status, render('full').code], [507, 'insufficient_storage']);
  });
});
