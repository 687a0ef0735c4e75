/**
 * A batch job's states (Mistral's seven) and the moves between them, as one table.
 * Every statement that sets a job's status takes its target and its guard from
 * TRANSITIONS (`set({ status: t.to })` … `where('status', 'in', t.from)`), so the
 * database can only move a job along an edge listed here; migration 009 adds a CHECK
 * that the column holds one of JOB_STATUSES.
 */
export const JobStatus = {
  QUEUED: 'QUEUED',
  RUNNING: 'RUNNING',
  SUCCESS: 'SUCCESS',
  FAILED: 'FAILED',
  TIMEOUT_EXCEEDED: 'TIMEOUT_EXCEEDED',
  CANCELLATION_REQUESTED: 'CANCELLATION_REQUESTED',
  CANCELLED: 'CANCELLED',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

const { QUEUED, RUNNING, SUCCESS, FAILED, TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED, CANCELLED } = JobStatus;

/** Final states: a job in one of them never changes status again. */
export const TERMINAL_STATUSES = [SUCCESS, FAILED, TIMEOUT_EXCEEDED, CANCELLED] as const satisfies readonly JobStatus[];
/** Every status, in the order Mistral's docs list them. */
export const JOB_STATUSES = [QUEUED, RUNNING, ...TERMINAL_STATUSES, CANCELLATION_REQUESTED] as const satisfies readonly JobStatus[];
/** Jobs whose requests may still run: they read their input bytes and their results still grow. */
export const UNFINISHED_STATUSES = [QUEUED, RUNNING, CANCELLATION_REQUESTED] as const satisfies readonly JobStatus[];
/** Jobs a client may pause or resume (pause.ts, resume.ts): pausing is a flag beside the status, never a status. */
export const UNFINISHED_PAUSABLE = [QUEUED, RUNNING] as const satisfies readonly JobStatus[];
/** Jobs admitted and not yet ended: their chunks count as pending work of their workspace. */
export const ADMITTED_STATUSES = [RUNNING, CANCELLATION_REQUESTED] as const satisfies readonly JobStatus[];

export interface Transition {
  readonly from: readonly JobStatus[];
  readonly to: JobStatus;
}

/** Every move a job can make, named by the queue operation that makes it. */
export const TRANSITIONS = {
  /** admit.ts: the workspace has room under its caps. */
  admit: { from: [QUEUED], to: RUNNING },
  /** cancel.ts: a client's cancel; the scheduler's close finishes it. */
  requestCancel: { from: [QUEUED, RUNNING], to: CANCELLATION_REQUESTED },
  /** close.ts: every open line of a cancelled job has its batch_cancelled record. */
  cancel: { from: [CANCELLATION_REQUESTED], to: CANCELLED },
  /** close.ts: the deadline passed; every open line has its batch_expired record. */
  expire: { from: [QUEUED, RUNNING], to: TIMEOUT_EXCEEDED },
  /** complete.ts: every chunk done and at least one request succeeded (or the job had none). */
  succeed: { from: [RUNNING], to: SUCCESS },
  /** complete.ts: every chunk done and not one request succeeded. */
  fail: { from: [RUNNING], to: FAILED },
} as const satisfies Record<string, Transition>;

export type TransitionName = keyof typeof TRANSITIONS;

/** Whether the table has an edge `from → to`. */
export function canTransition(from: string, to: string): boolean {
  return Object.values(TRANSITIONS).some((t) => t.to === to && (t.from as readonly string[]).includes(from));
}

export const isJobStatus = (s: string): s is JobStatus => (JOB_STATUSES as readonly string[]).includes(s);
export const isTerminal = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);

/**
 * A chunk (a run of lines, the unit a worker leases): pending → leased (claim, or the
 * fence of a closer) → done (finish), or back to pending (release). A leased chunk whose
 * lease ran out is claimed again as it is, with a new fencing token.
 */
export const ChunkState = {
  PENDING: 'pending',
  LEASED: 'leased',
  DONE: 'done',
} as const;
export type ChunkState = (typeof ChunkState)[keyof typeof ChunkState];
export const CHUNK_STATES = [ChunkState.PENDING, ChunkState.LEASED, ChunkState.DONE] as const satisfies readonly ChunkState[];
