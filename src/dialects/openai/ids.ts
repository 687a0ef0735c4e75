import { randomUUID } from 'node:crypto';

/**
 * OpenAI's ids over batchd's: a job's primary key stays its UUID; OpenAI's view shows it
 * as `batch_<32 hex>` (the UUID without dashes) and maps that back. Nothing is stored.
 */
const BATCH_ID = /^batch_([0-9a-f]{32})$/;

export function batchIdOf(jobId: string): string {
  return `batch_${jobId.replace(/-/g, '')}`;
}

/** The job UUID a `batch_…` id names, or null for anything else (a 404, never a lookup by another form). */
export function jobIdOf(batchId: string): string | null {
  const m = BATCH_ID.exec(batchId);
  if (!m) return null;
  const h = m[1]!;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A fresh id of OpenAI's form `<prefix><32 hex>` (result lines' `batch_req_`, their `req_` request ids). */
export const hexId = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, '')}`;
