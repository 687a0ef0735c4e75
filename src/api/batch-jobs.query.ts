import { badRequest } from '../errors.js';
import { JOB_STATUSES } from '../store/jobs.js';
import { queryList, queryString, type Query } from './query.js';
import { metadataObject } from './job-metadata.js';

/** Query keys the list route understands; any other key is a metadata filter (the SDK explodes metadata). */
const LIST_KEYS = new Set(['page', 'page_size', 'model', 'agent_id', 'metadata', 'created_after', 'created_by_me', 'status', 'order_by']);

/**
 * A job has at most 64 metadata keys (batch-jobs.schemas.ts), so a filter on more keys can
 * match nothing; it is refused rather than compiled into a query of hundreds of conditions.
 */
export const MAX_METADATA_FILTERS = 64;

export function parseStatuses(q: Query): string[] | undefined {
  const statuses = queryList(q, 'status');
  for (const s of statuses ?? []) {
    if (!(JOB_STATUSES as readonly string[]).includes(s)) throw badRequest('invalid_query', `status '${s}' is not one of ${JOB_STATUSES.join(', ')}.`, 'status');
  }
  return statuses;
}

export function parseCreatedAfter(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  // Python's isoformat() may send a naive time; read it as UTC like Mistral's server.
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw badRequest('invalid_query', `created_after must be an ISO-8601 date-time like 2025-01-02T03:04:05Z, got '${v}'.`, 'created_after');
  return t;
}

export function parseOrder(v: string | undefined): boolean {
  if (v === undefined || v === '-created') return false;
  if (v === 'created') return true;
  throw badRequest('invalid_query', `order_by must be 'created' or '-created', got '${v}'.`, 'order_by');
}

/**
 * Metadata filters: `metadata=<json object>` and/or every query key the route does not otherwise know.
 * A null-prototype object: a `__proto__` key is a filter like any other (assigned to a
 * plain object it would vanish, and the list would widen to every job).
 */
export function parseMetadataFilter(q: Query): Record<string, string> {
  const filter = metadataObject([]);
  const json = queryString(q, 'metadata');
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw badRequest('invalid_query', 'metadata must be a JSON object of string values, e.g. metadata={"job_type":"test"}.', 'metadata');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw badRequest('invalid_query', 'metadata must be a JSON object of string values.', 'metadata');
    }
    for (const [k, v] of Object.entries(parsed)) filter[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  for (const [k, v] of Object.entries(q)) {
    if (LIST_KEYS.has(k) || v === undefined) continue;
    if (Array.isArray(v)) throw badRequest('invalid_query', `metadata filter '${k}' was given ${v.length} times; give it once.`, k);
    filter[k] = v;
  }
  const count = Object.keys(filter).length;
  if (count > MAX_METADATA_FILTERS) {
    throw badRequest('too_many_metadata_filters', `The job list was given ${count} metadata filters; at most ${MAX_METADATA_FILTERS} are allowed (a job has at most ${MAX_METADATA_FILTERS} metadata keys).`, 'metadata');
  }
  return filter;
}
