import type { Kysely, Transaction } from 'kysely';
import type { BatchJobTable, Database, JobChunkTable } from '../store/schema.js';

/** The handle every queue statement runs on: the database, or a transaction of it. */
export type Q = Kysely<Database> | Transaction<Database>;

export type JobRow = BatchJobTable;

/** Where a job's work comes from: one blob's chunk table, shifted to the job's line numbering. */
export interface JobInput {
  fileId: string;
  blobKey: string;
  lineOffset: number;
  chunkOffset: number;
}

export type ClaimedChunk = Pick<JobChunkTable, 'job_id' | 'chunk_no' | 'blob_key' | 'byte_start' | 'byte_end' | 'first_line' | 'line_count'> & {
  /** The fencing token: every later write for this chunk must present it. */
  token: number;
};

export interface Lease {
  job_id: string;
  chunk_no: number;
  token: number;
}

export interface ResultFiles {
  output_file: string | null;
  error_file: string | null;
}
