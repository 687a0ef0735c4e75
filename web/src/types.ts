/** The API objects the dashboard reads, as batchd's routes answer them (src/api/batch-jobs.ts, files.ts, models.ts). */

export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'TIMEOUT_EXCEEDED' | 'CANCELLATION_REQUESTED' | 'CANCELLED';

export const JOB_STATUSES: JobStatus[] = ['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLATION_REQUESTED', 'CANCELLED'];

export const TERMINAL: JobStatus[] = ['SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED'];

export interface Job {
  id: string;
  object: 'batch';
  input_files: string[];
  metadata: Record<string, string> | null;
  endpoint: string;
  model: string;
  output_file: string | null;
  error_file: string | null;
  errors: { message: string; count: number }[];
  status: JobStatus;
  created_at: number;
  total_requests: number;
  completed_requests: number;
  succeeded_requests: number;
  failed_requests: number;
  started_at: number | null;
  completed_at: number | null;
  timeout_hours: number;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost_usd: number | null };
}

export interface FileObject {
  id: string;
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  num_lines: number | null;
}

export interface ModelCard {
  id: string;
  name: string;
  aliases: string[];
  batchd?: { engine: string; endpoints: string[]; input_price_per_mtok: number; output_price_per_mtok: number };
}

export interface ModelLoad {
  id: string;
  engine: string;
  backend: string;
  endpoints: string[];
  max_in_flight: number;
  in_flight: number;
  waiting: number;
  running_jobs: number;
}

export interface List<T> {
  data: T[];
  total?: number;
}
