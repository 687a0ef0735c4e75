import type { JobResultTable } from '../store/schema.js';

export type ResultRow = Omit<JobResultTable, 'job_id' | 'created_at'> & {
  /** Bytes the line adds to its result file, newline included. */
  bytes: number;
};

/**
 * Rows per INSERT on PostgreSQL: a statement has at most 65,535 parameters and a row takes
 * 7, so a large group is written in several statements (SQLite inserts a row per statement).
 */
export const ROWS_PER_STATEMENT = 500;
