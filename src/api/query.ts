import { apiError } from '../errors.js';

/** Fastify's query parser yields a string for one occurrence and an array for repeated keys. */
export type Query = Record<string, string | string[] | undefined>;

/** All values of a key that may repeat (`status=A&status=B`); a single value is a list of one. */
export function queryList(q: Query, name: string): string[] | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).filter((s) => s !== '');
}

export function queryString(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw apiError('invalid_query', `query parameter '${name}' was given ${v.length} times; give it once`, { param: name });
  return v === '' ? undefined : v;
}

export function queryInt(q: Query, name: string, fallback: number, min: number, max: number): number {
  const v = queryString(q, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) {
    throw apiError('invalid_query', `query parameter '${name}' must be an integer from ${min} to ${max}, got '${v}'`, { param: name });
  }
  return n;
}

export function queryBool(q: Query, name: string, fallback: boolean): boolean {
  const v = queryString(q, name);
  if (v === undefined) return fallback;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw apiError('invalid_query', `query parameter '${name}' must be true or false, got '${v}'`, { param: name });
}

/** `page`/`page_size` as Mistral's list routes take them (0-based pages, 100 per page by default). */
export function queryPaging(q: Query) {
  return {
    page: queryInt(q, 'page', 0, 0, 1_000_000),
    pageSize: queryInt(q, 'page_size', 100, 1, 1000),
  };
}
