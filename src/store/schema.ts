/**
 * Table types shared by the SQLite and PostgreSQL stores. Times are unix milliseconds
 * (bigint on Postgres, parsed back to number); JSON is stored as text so one query
 * works on both dialects.
 */
import type { ChunkState, JobStatus } from '../queue/states.js';
import type { ApiDialect } from '../dialects/types.js';

export interface ApiKeyTable {
  id: string;
  workspace: string;
  /** sha256 of the key, hex; the first 8 chars index the lookup. */
  key_hash: string;
  hash_prefix: string;
  label: string | null;
  created_at: number;
}

export interface FileTable {
  id: string;
  workspace: string;
  filename: string;
  bytes: number;
  purpose: string;
  sample_type: string;
  source: string;
  num_lines: number | null;
  mimetype: string | null;
  signature: string | null;
  expires_at: number | null;
  visibility: string | null;
  created_at: number;
  blob_key: string;
  /** Inline-request inputs are stored as files the client never sees. */
  hidden: number;
  deleted_at: number | null;
  /** Set on a job's output/error file, whose bytes are that job's result lines. */
  job_id: string | null;
  /** output | error */
  result_kind: string | null;
}

/** Line ranges recorded while a batch file is validated, so a job's work items are a copy, not a re-read. */
export interface FileChunkTable {
  file_id: string;
  chunk_no: number;
  byte_start: number;
  byte_end: number;
  first_line: number;
  line_count: number;
}

export interface BatchJobTable {
  id: string;
  workspace: string;
  created_by: string | null;
  endpoint: string;
  model: string;
  agent_id: string | null;
  metadata: string | null;
  timeout_hours: number;
  /** One of JOB_STATUSES (a CHECK since migration 009); moved only along TRANSITIONS. */
  status: JobStatus;
  input_files: string;
  inline: number;
  output_file: string | null;
  error_file: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  deadline_at: number;
  cancel_requested_at: number | null;
  total_requests: number;
  completed_requests: number;
  succeeded_requests: number;
  failed_requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  deleted_at: number | null;
  idempotency_key: string | null;
  /** The API the job was created through (migration 010): how its lines are read and its results written. */
  dialect: ApiDialect;
  /** Claim order within a workspace (migration 011): 2 high, 1 normal, 0 low (queue/priority.ts). */
  priority: number;
  /** Set while the job is paused (migration 011): it claims nothing new; its status does not change. */
  paused_at: number | null;
  /** Where its terminal state is POSTed (migration 011); null: no webhook. */
  webhook_url: string | null;
  /** The endpoint it was created for in its dialect's API when the engines run it under another (migration 014). */
  api_endpoint: string | null;
}

export interface JobMetadataTable {
  job_id: string;
  key: string;
  value: string;
}

/** A run of input lines: the unit of work a worker claims with a lease. */
export interface JobChunkTable {
  job_id: string;
  chunk_no: number;
  blob_key: string;
  byte_start: number;
  byte_end: number;
  /** 0-based index of the chunk's first request within the job. */
  first_line: number;
  line_count: number;
  state: ChunkState;
  lease_owner: string | null;
  lease_token: number;
  lease_expires_at: number | null;
  attempts: number;
  succeeded: number;
  failed: number;
  prompt_tokens: number;
  completion_tokens: number;
  ok_bytes: number;
  err_bytes: number;
}

export interface SettingTable {
  key: string;
  value: string;
}

export interface JobResultTable {
  job_id: string;
  /** 0-based index of the request within the job. */
  line_no: number;
  ok: number;
  /** The rendered JSONL line of the output or error file. */
  line: string;
  error_message: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  created_at: number;
}

export interface BlobTable {
  blob_key: string;
  size: number;
  created_at: number;
}

export interface BlobPieceTable {
  blob_key: string;
  seq: number;
  data: Buffer;
  created_at: number;
}

/** Bytes no file refers to any more, deleted by the storage sweep (see migration 006). */
export interface ReleasedBlobTable {
  blob_key: string;
  released_at: number;
}

/** A workspace's stored bytes and files: the sums of its storage_charges rows (see migration 008). */
export interface StorageUsageTable {
  workspace: string;
  bytes: number;
  files: number;
}

/** One file counted against its workspace's quota, with the bytes it was charged. */
export interface StorageChargeTable {
  file_id: string;
  workspace: string;
  bytes: number;
}

/** A terminal job's webhook event waiting for (or past) delivery (migration 012, queue/webhook-outbox.ts). */
/** Why a job was refused before it ran (migration 013): OpenAI's line-numbered errors.data of a failed batch. */
export interface JobValidationErrorTable {
  job_id: string;
  seq: number;
  line: number | null;
  code: string;
  message: string;
  param: string | null;
}

export interface WebhookOutboxTable {
  id: string;
  job_id: string;
  workspace: string;
  url: string;
  /** The terminal status the event announces. */
  status: string;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  give_up_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  delivered_at: number | null;
  failed_at: number | null;
  last_error: string | null;
}

export interface Database {
  blobs: BlobTable;
  blob_pieces: BlobPieceTable;
  job_results: JobResultTable;
  settings: SettingTable;
  api_keys: ApiKeyTable;
  files: FileTable;
  file_chunks: FileChunkTable;
  batch_jobs: BatchJobTable;
  job_metadata: JobMetadataTable;
  job_chunks: JobChunkTable;
  released_blobs: ReleasedBlobTable;
  storage_usage: StorageUsageTable;
  storage_charges: StorageChargeTable;
  webhook_outbox: WebhookOutboxTable;
  job_validation_errors: JobValidationErrorTable;
}
