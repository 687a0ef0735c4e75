import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createPgSchema, postgresTestOptions } from '../helpers/stores.js';
import { IDLE_IN_TRANSACTION_MS, openPostgres } from '../../src/store/postgres/postgres-database.js';

// A worker stopped inside a transaction (SIGSTOP) held a chunk's row lock, and the other workers'
// SKIP LOCKED claims passed that chunk by for as long as it stayed stopped.
test(
  'a session that stalls inside a transaction loses its row locks to the server, and skip-locked readers see the row again',
  await postgresTestOptions(),
  async () => {
    const schema = await createPgSchema();
    const app = `stall-${process.pid}`;
    const stalled = openPostgres(`${schema.url}&application_name=${app}`, 1);
    const other = openPostgres(schema.url, 1);
    let release = () => {};
    try {
      await sql`create table t (id int primary key)`.execute(other);
      await sql`insert into t values (1)`.execute(other);
      const free = async () => (await sql<{ id: number }>`select id from t for update skip locked`.execute(other)).rows.length;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // The transaction takes the lock, then its client goes silent, as a stopped process does.
      const tx = stalled
        .transaction()
        .execute(async (trx) => {
          await sql`select id from t where id = 1 for update`.execute(trx);
          locked();
          await held;
          await sql`select 1`.execute(trx);
        })
        .then(
          () => 'committed',
          (err: Error) => err.message,
        );
      await isLocked;
      assert.equal(await free(), 0, 'the row is locked while the transaction is open');
      const started = Date.now();
      while ((await free()) === 0) {
        assert.ok(Date.now() - started < IDLE_IN_TRANSACTION_MS + 10_000, 'the lock outlived the idle-in-transaction timeout');
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(Date.now() - started >= IDLE_IN_TRANSACTION_MS - 1000, 'released by the timeout, not earlier');
      release();
      // The stopped process, resumed, finds its session gone: its transaction fails, nothing it did stands.
      assert.notEqual(await tx, 'committed');
    } finally {
      release();
      // Were the lock never released, the stalled session would hold up the pool's end: end it here.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${app}`.execute(other);
      await stalled.destroy().catch(() => undefined);
      await other.destroy();
      await schema.drop();
    }
  },
);
