import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database } from '../store/schema.js';
import type { StoreKind } from '../store/database.js';
import type { Lease } from './types.js';
import type { ResultRow } from './record-rows.js';
import { recordInTransaction } from './record-sqlite.js';
import { recordInStatements } from './record-postgres.js';
import { expireAllLeases } from './lease.js';

type Lock = <TB extends keyof Database, O>(q: SelectQueryBuilder<Database, TB, O>) => SelectQueryBuilder<Database, TB, O>;

/**
 * Where the two stores differ, chosen once when the queue is built (as kysely keeps one
 * small dialect seam): row locks, which SQLite does without (its writers are serialised
 * by BEGIN IMMEDIATE), and how a group of records is written.
 */
export interface QueueDialect {
  kind: StoreKind;
  /** A claim's pick: PostgreSQL workers skip chunks another worker is claiming instead of queueing on their locks. */
  skipLocked: Lock;
  /** Holds off a concurrent delete of the rows read until commit. */
  forShare: Lock;
  /** Locks the rows read until commit. */
  forUpdate: Lock;
  /** Writes a chunk's records and moves its counters, fenced by the lease; false once fenced out. */
  recordRows(db: Kysely<Database>, lease: Lease, rows: ResultRow[], now: number, leaseMs: number): Promise<boolean>;
  /** At a runner's start: leases that can only belong to a process that is gone are made claimable. */
  recoverLeases(db: Kysely<Database>): Promise<void>;
}

const asIs: Lock = (q) => q;

export const sqliteDialect: QueueDialect = {
  kind: 'sqlite',
  skipLocked: asIs,
  forShare: asIs,
  forUpdate: asIs,
  recordRows: recordInTransaction,
  // An SQLite store has one process: leases left by an earlier run are from a process that is gone.
  recoverLeases: expireAllLeases,
};

export const postgresDialect: QueueDialect = {
  kind: 'postgres',
  skipLocked: (q) => q.forUpdate().skipLocked(),
  forShare: (q) => q.forShare(),
  forUpdate: (q) => q.forUpdate(),
  recordRows: recordInStatements,
  // Other processes' leases may be live: they are reclaimed when they expire.
  recoverLeases: async () => undefined,
};

export const dialectFor = (kind: StoreKind): QueueDialect => (kind === 'postgres' ? postgresDialect : sqliteDialect);
