import type { JobResultTable } from '../store/schema.js';

export type ResultRow = Omit<JobResultTable, 'job_id' | 'created_at'> & {
  /** Bytes the line adds to its result file, newline included. */
  bytes: number;
};

/**
 * Rows per INSERT: statements have a parameter limit (SQLite 32,766, PostgreSQL 65,535)
 * and a row takes 7–8, so a large group is written in several statements.
 */
export const ROWS_PER_STATEMENT = 500;
