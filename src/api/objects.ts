/**
 * The API objects batchd's routes answer (batch-jobs.ts jobObject, files.ts fileObject), as
 * its own clients read them: the CLI (src/cli) and the dashboard (web/src) import these, so
 * the two cannot drift apart. The server sends more fields than these.
 *
 * Types and constants only, importing nothing: the dashboard's build (web/tsconfig.json,
 * vite) compiles this file too, where neither Node's nor the server's modules exist.
 */

/** Mistral's seven job statuses (queue/states.ts JobStatus's names). */
export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'TIMEOUT_EXCEEDED' | 'CANCELLATION_REQUESTED' | 'CANCELLED';

export const JOB_STATUSES: readonly JobStatus[] = ['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLATION_REQUESTED', 'CANCELLED'];

/** Mistral's BatchJob object. */
export interface JobObject {
  id: string;
  object: 'batch';
  input_files: string[];
  metadata: Record<string, string> | null;
  endpoint: string;
  /** null for a job run by an agent (agent_id). */
  model: string | null;
  agent_id: string | null;
  output_file: string | null;
  error_file: string | null;
  errors: { message: string; count: number }[];
  status: JobStatus;
  created_at: number;
  total_requests: number;
  /** Lines with a terminal record: succeeded, failed, and those a cancel or timeout ended unanswered. */
  completed_requests: number;
  succeeded_requests: number;
  failed_requests: number;
  started_at: number | null;
  completed_at: number | null;
  timeout_hours: number;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost_usd: number | null };
}

/**
 * The error messages of the records the scheduler's close gives lines that never got an
 * answer (results/render.ts cancelledOutcome, expiredOutcome; test/web/answered-lines.test.ts
 * holds the two equal). In a job's `errors` they are the lines a cancel or a timeout ended.
 */
export const CLOSED_LINE_MESSAGES: readonly string[] = [
  'The batch job was cancelled before this request finished.',
  'The batch job timed out before this request ran (timeout_hours exceeded).',
];

/** Lines a cancel or a timeout closed unanswered: counted as completed, and as failed, all at once when the job ends. */
export const closedRequests = (job: Pick<JobObject, 'errors'>): number =>
  job.errors.reduce((n, e) => (CLOSED_LINE_MESSAGES.includes(e.message) ? n + e.count : n), 0);

/**
 * Lines an engine actually answered (succeeded, or failed on their own): a rate of these has
 * no spike when a cancel or a timeout closes the open lines.
 */
export const answeredRequests = (job: Pick<JobObject, 'completed_requests' | 'errors'>): number => job.completed_requests - closedRequests(job);

/** Mistral's File object. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  sample_type: string;
  source: string;
  num_lines: number | null;
  mimetype: string | null;
  expires_at: number | null;
}

/** A page of GET /v1/batch/jobs or GET /v1/files: `total` counts every match, not only this page. */
export interface ListOf<T> {
  data: T[];
  object: 'list';
  total: number;
}

/**
 * A model on the dashboard's models page (GET /v1/dashboard/models, web/model-stats.ts): its
 * engine and backend, and the caller's workspace's running work on it, from the job store.
 */
export interface ModelLoadObject {
  id: string;
  engine: string;
  backend: string;
  endpoints: string[];
  max_in_flight: number;
  /**
   * Lines of the workspace's running jobs in chunks a worker has leased and not yet recorded:
   * handed to workers, not calls at the engine (a worker runs a chunk's lines up to the
   * engine's max_in_flight at a time, across all workspaces and online calls).
   */
  lines_leased: number;
  /** Lines of the workspace's running jobs in chunks no worker holds yet. */
  waiting: number;
  running_jobs: number;
}
