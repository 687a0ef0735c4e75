import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { after, before } from 'node:test';
import { openDatabase, type Db } from '../../src/store/database.js';
import { LocalBlobStore } from '../../src/blobs/local-blob-store.js';
import { createQueue, type Queue } from '../../src/queue/index.js';

/** The lease of a suite's queue. */
export const SUITE_LEASE_MS = 10_000;

export const PG_BASE = process.env.BATCHD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgReachable: Promise<string | null> | null = null;

/** null when PostgreSQL answers, else why not. */
export function postgresUnavailable(): Promise<string | null> {
  pgReachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_BASE, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return null;
    } catch (err) {
      return `PostgreSQL at ${PG_BASE} is unreachable: ${(err as Error).message}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgReachable;
}

/**
 * Options for a Postgres test: skipped with the reason where PostgreSQL is unreachable,
 * except under CI (CI=true), where a skip would hide untested code and so fails instead.
 */
export async function postgresTestOptions(): Promise<{ skip?: string }> {
  const why = await postgresUnavailable();
  if (!why) return {};
  if (process.env.CI) throw new Error(`${why} (CI requires the PostgreSQL tests to run)`);
  return { skip: why };
}

/** A fresh schema of its own on the shared test database; its URL selects it through search_path. */
export async function createPgSchema(): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_BASE });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const sep = PG_BASE.includes('?') ? '&' : '?';
  return {
    url: `${PG_BASE}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_BASE });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}

export type StoreName = 'sqlite' | 'postgres';
export const STORES: StoreName[] = ['sqlite', 'postgres'];

export interface TestStore {
  name: StoreName;
  url: string;
  dir: string;
  open(): Promise<Db>;
  cleanup(): Promise<void>;
}

/** A database URL (and a temp dir) for one store kind, migrated on first open. */
export async function makeStore(name: StoreName): Promise<TestStore> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-store-'));
  if (name === 'sqlite') {
    const url = `sqlite:${path.join(dir, 'batchd.sqlite')}`;
    return { name, url, dir, open: () => openDatabase(url), cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = await createPgSchema();
  return {
    name,
    url: schema.url,
    dir,
    open: () => openDatabase(schema.url),
    cleanup: async () => {
      await schema.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** node:test options for a test on `name`: Postgres tests skip (or fail under CI) without a server. */
export async function storeTestOptions(name: StoreName): Promise<{ skip?: string }> {
  return name === 'postgres' ? postgresTestOptions() : {};
}

export interface StoreSuite {
  /** node:test options: skipped (or failing under CI) where the store is unreachable. */
  opts: { skip?: string };
  store: TestStore;
  db: Db;
  /** A blob directory of the suite's own. */
  blobs: LocalBlobStore;
  /** The job queue over `db` and `blobs`, with leases of SUITE_LEASE_MS. */
  queue: Queue;
}

/** Call inside a describe: a fresh, migrated store for the suite, opened before its tests and removed after. */
export async function storeSuite(name: StoreName): Promise<StoreSuite> {
  const suite = { opts: await storeTestOptions(name) } as StoreSuite;
  before(async () => {
    if (suite.opts.skip) return;
    suite.store = await makeStore(name);
    suite.db = await suite.store.open();
    suite.blobs = new LocalBlobStore(path.join(suite.store.dir, 'blobs'));
    suite.queue = createQueue(suite.db, { blobs: suite.blobs, leaseMs: SUITE_LEASE_MS });
  });
  after(async () => {
    if (suite.opts.skip) return;
    await suite.db.close();
    await suite.store.cleanup();
  });
  return suite;
}
