import { apiError, type ApiError } from '../errors.js';
import { readUsage, type StorageQuota, type StorageQuotaExceeded, type StorageUsage } from '../store/storage-usage.js';
import type { AppContext } from './context.js';

/** A workspace's quota and where each limit was set, so a refusal can say what to change. */
export interface WorkspaceQuota extends StorageQuota {
  workspace: string;
  bytesSetting: string;
  filesSetting: string;
}

/** The registry file's `workspaces.<ws>` limits win over BATCHD_MAX_STORAGE_BYTES / BATCHD_MAX_FILES. */
export function storageQuotaFor(ctx: AppContext, workspace: string): WorkspaceQuota {
  const own = ctx.registry.storageQuotas.get(workspace);
  const key = (field: string) => `workspaces.${JSON.stringify(workspace)}.${field} in the registry file`;
  return {
    workspace,
    maxBytes: own?.maxStorageBytes ?? ctx.config.limits.maxStorageBytes,
    maxFiles: own?.maxFiles ?? ctx.config.limits.maxFiles,
    bytesSetting: own?.maxStorageBytes !== undefined ? key('max_storage_bytes') : 'BATCHD_MAX_STORAGE_BYTES',
    filesSetting: own?.maxFiles !== undefined ? key('max_files') : 'BATCHD_MAX_FILES',
  };
}

const n = (v: number) => v.toLocaleString('en-US');
const ADVICE =
  "Delete files or batch jobs this workspace no longer needs (a job's results count until the job is deleted), or ask the operator to raise the quota.";

/** 413 storage_quota_exceeded: the bytes do not fit. `inFlight` = other uploads of the workspace under way. */
export function bytesQuotaError(q: WorkspaceQuota, usage: StorageUsage, inFlight: number, detail: string): ApiError {
  const used = usage.bytes + usage.liveBytes + inFlight;
  const parts = [`${n(usage.bytes)} in files`];
  if (usage.liveBytes) parts.push(`${n(usage.liveBytes)} in results of unfinished jobs`);
  if (inFlight) parts.push(`${n(inFlight)} in other uploads under way`);
  return apiError(
    'storage_quota_exceeded',
    `Storage quota exceeded: workspace '${q.workspace}' may store ${n(q.maxBytes)} bytes (${q.bytesSetting}) and uses ${n(used)} (${parts.join(', ')}); ${detail} Nothing was stored. ${ADVICE}`,
    { param: 'file' },
  );
}

/** 403 file_quota_exceeded: one more file does not fit. */
export function filesQuotaError(q: WorkspaceQuota, usage: StorageUsage): ApiError {
  return apiError(
    'file_quota_exceeded',
    `File quota exceeded: workspace '${q.workspace}' may store ${n(q.maxFiles)} files (${q.filesSetting}) and stores ${n(usage.files)}, counting inline job inputs and finished jobs' result files. Nothing was stored. ${ADVICE}`,
    { param: 'file' },
  );
}

/** The refusal for a charge the store declined at commit (the check that holds across processes). */
export function quotaErrorAtCommit(q: WorkspaceQuota, err: StorageQuotaExceeded, what = 'this upload'): ApiError {
  if (err.kind === 'files') return filesQuotaError(q, err.usage);
  return bytesQuotaError(
    q,
    err.usage,
    0,
    `${what} needs ${n(err.requested)}, more than the ${n(Math.max(0, q.maxBytes - err.usage.bytes - err.usage.liveBytes))} left.`,
  );
}

/** Bytes of uploads still streaming, per workspace, in this process. */
class InFlightUploads {
  private readonly bytes = new Map<string, number>();
  of(workspace: string) {
    return this.bytes.get(workspace) ?? 0;
  }
  add(workspace: string, delta: number) {
    const v = this.of(workspace) + delta;
    if (v > 0) this.bytes.set(workspace, v);
    else this.bytes.delete(workspace);
  }
}

/** One per app (keyed by its context): no module-level state that tests would have to reset. */
const inFlightByApp = new WeakMap<AppContext, InFlightUploads>();

export interface UploadMeter {
  /** Counts a piece of the file; returns the error to abort the upload with once it crosses the quota. */
  onBytes(bytes: number): ApiError | undefined;
  /** Gives back this upload's reservation (after commit or abort). */
  release(): void;
}

/**
 * Checks the quota before the body is read (a full workspace is refused at once), then
 * meters the upload as it streams. Each upload reserves its bytes in this process as they
 * arrive, and the check counts every upload of the workspace under way, so of two
 * concurrent uploads that together cross the quota the one whose bytes cross it is cut
 * as soon as they do. Uploads on other API nodes are not seen here: the conditional
 * charge at commit (chargeFile) is what makes the quota hold across processes.
 */
export async function startUploadMeter(ctx: AppContext, q: WorkspaceQuota): Promise<UploadMeter> {
  if (!q.maxBytes && !q.maxFiles) return { onBytes: () => undefined, release: () => undefined };
  const usage = await readUsage(ctx.db.kysely, q.workspace);
  if (q.maxFiles && usage.files >= q.maxFiles) throw filesQuotaError(q, usage);
  let inFlight = inFlightByApp.get(ctx);
  if (!inFlight) inFlightByApp.set(ctx, (inFlight = new InFlightUploads()));
  const uploads = inFlight;
  if (q.maxBytes && usage.bytes + usage.liveBytes + uploads.of(q.workspace) >= q.maxBytes) {
    throw bytesQuotaError(q, usage, uploads.of(q.workspace), 'no byte is left for this upload.');
  }
  let mine = 0;
  const release = () => {
    uploads.add(q.workspace, -mine);
    mine = 0;
  };
  return {
    release,
    onBytes(bytes) {
      mine += bytes;
      uploads.add(q.workspace, bytes);
      if (!q.maxBytes) return undefined;
      const others = uploads.of(q.workspace) - mine;
      if (usage.bytes + usage.liveBytes + others + mine <= q.maxBytes) return undefined;
      const cutAt = mine;
      // Given back at once, so the uploads still streaming are not cut for bytes that will never be stored.
      release();
      return bytesQuotaError(
        q,
        usage,
        others,
        `this upload was cut after ${n(cutAt)} bytes, past the ${n(Math.max(0, q.maxBytes - usage.bytes - usage.liveBytes - others))} left.`,
      );
    },
  };
}
