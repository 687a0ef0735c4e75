import { z } from 'zod';
import { apiError } from '../errors.js';
import { isJobStatus, JOB_STATUSES, type JobStatus } from '../queue/states.js';
import { listOf, pagingShape, query, queryField, stringOf, type Query } from './query.js';
import { metadataObject } from './job-metadata.js';
import { apiTransform, documentedAs } from './zod-provider.js';

/**
 * A job has at most 64 metadata keys (batch-jobs.schemas.ts), so a filter on more keys can
 * match nothing; it is refused rather than compiled into a query of hundreds of conditions.
 */
export const MAX_METADATA_FILTERS = 64;

export function parseStatuses(statuses: string[] | undefined): JobStatus[] | undefined {
  return statuses?.map((s) => {
    if (!isJobStatus(s)) throw apiError('invalid_query', `status '${s}' is not one of ${JOB_STATUSES.join(', ')}.`, { param: 'status' });
    return s;
  });
}

export function parseCreatedAfter(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  // Python's isoformat() may send a naive time; read it as UTC like Mistral's server.
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`;
  const t = Date.parse(iso);
  if (Number.isNaN(t))
    throw apiError('invalid_query', `created_after must be an ISO-8601 date-time like 2025-01-02T03:04:05Z, got '${v}'.`, { param: 'created_after' });
  return t;
}

export function parseOrder(v: string | undefined): boolean {
  if (v === undefined || v === '-created') return false;
  if (v === 'created') return true;
  throw apiError('invalid_query', `order_by must be 'created' or '-created', got '${v}'.`, { param: 'order_by' });
}

/**
 * Metadata filters: `metadata=<json object>` and/or every query key the route does not otherwise know.
 * A null-prototype object: a `__proto__` key is a filter like any other (assigned to a
 * plain object it would vanish, and the list would widen to every job).
 */
export function parseMetadataFilter(q: Query): Record<string, string> {
  const filter = metadataObject([]);
  const json = stringOf(q.metadata, 'metadata');
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw apiError('invalid_query', 'metadata must be a JSON object of string values, e.g. metadata={"job_type":"test"}.', { param: 'metadata' });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw apiError('invalid_query', 'metadata must be a JSON object of string values.', { param: 'metadata' });
    }
    for (const [k, v] of Object.entries(parsed)) filter[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  for (const [k, v] of Object.entries(q)) {
    if (LIST_KEYS.has(k) || v === undefined) continue;
    if (Array.isArray(v)) throw apiError('invalid_query', `metadata filter '${k}' was given ${v.length} times; give it once.`, { param: k });
    filter[k] = v;
  }
  const count = Object.keys(filter).length;
  if (count > MAX_METADATA_FILTERS) {
    throw apiError(
      'too_many_metadata_filters',
      `The job list was given ${count} metadata filters; at most ${MAX_METADATA_FILTERS} are allowed (a job has at most ${MAX_METADATA_FILTERS} metadata keys).`,
      { param: 'metadata' },
    );
  }
  return filter;
}

/** The list route's own keys, in the order their errors used to be checked. */
const listKeys = z.object({
  ...pagingShape,
  status: documentedAs(
    queryField((v) => parseStatuses(listOf(v))),
    z.array(z.enum(JOB_STATUSES)).optional(),
  ),
  model: query.string(),
  agent_id: query.string(),
  created_after: documentedAs(
    queryField((v, name) => parseCreatedAfter(stringOf(v, name))),
    z.string().datetime({ offset: true }).optional(),
  ),
  created_by_me: query.bool(false),
  order_by: documentedAs(
    queryField((v, name) => parseOrder(stringOf(v, name))),
    z.enum(['created', '-created']).default('-created'),
  ),
});

/** Query keys the list route understands; any other key is a metadata filter (the SDK explodes metadata). */
const LIST_KEYS = new Set([...Object.keys(listKeys.shape), 'metadata']);

/**
 * GET /v1/batch/jobs's query: its own keys through their schema, then the metadata filter.
 * The filter is read by hand from the query as parsed (parseMetadataFilter): any unknown key
 * is a filter, and a zod object's output would drop a `__proto__` key.
 */
export const listJobsQuery = documentedAs(
  z.custom<Query>().transform((q, ctx) => {
    const known = listKeys.safeParse(q);
    if (!known.success) {
      for (const issue of known.error.issues) ctx.addIssue(issue);
      return z.NEVER;
    }
    return { ...known.data, metadata: apiTransform(parseMetadataFilter)(q, ctx) };
  }),
  // For the OpenAPI document: the keys as their schemas document them (the metadata filter as its JSON form).
  listKeys.extend({ metadata: z.string().optional() }),
);
