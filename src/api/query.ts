import { z } from 'zod';
import { apiError } from '../errors.js';
import { apiTransform, documentedAs } from './zod-provider.js';

/** Fastify's query parser yields a string for one occurrence and an array for repeated keys. */
export type QueryValue = string | string[] | undefined;
export type Query = Record<string, QueryValue>;

/** All values of a key that may repeat (`status=A&status=B`); a single value is a list of one. */
export function listOf(v: QueryValue): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).filter((s) => s !== '');
}

export function stringOf(v: QueryValue, name: string): string | undefined {
  if (Array.isArray(v)) throw apiError('invalid_query', `query parameter '${name}' was given ${v.length} times; give it once`, { param: name });
  return v === '' ? undefined : v;
}

export function intOf(value: QueryValue, name: string, fallback: number, min: number, max: number): number {
  const v = stringOf(value, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) {
    throw apiError('invalid_query', `query parameter '${name}' must be an integer from ${min} to ${max}, got '${v}'`, { param: name });
  }
  return n;
}

export function boolOf(value: QueryValue, name: string, fallback: boolean): boolean {
  const v = stringOf(value, name);
  if (v === undefined) return fallback;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw apiError('invalid_query', `query parameter '${name}' must be true or false, got '${v}'`, { param: name });
}

/** A query value as the parser gave it, for a route that reads it itself. */
export const rawQueryValue = z.custom<QueryValue>();

/** A query field parsed by `parse`, which gets the field's name for its error (`param`) from the schema. */
export function queryField<O>(parse: (value: QueryValue, name: string) => O) {
  return rawQueryValue.transform(apiTransform((v: QueryValue, ctx) => parse(v, String(ctx.path[ctx.path.length - 1]))));
}

/**
 * Query fields as the SDKs send them: a missing or empty key takes the default, a key that
 * may repeat is a list either way, and a malformed value is the API's invalid_query 400.
 */
export const query = {
  list: () => documentedAs(queryField(listOf), z.array(z.string()).optional()),
  string: () => documentedAs(queryField(stringOf), z.string().optional()),
  int: (fallback: number, min: number, max: number) =>
    documentedAs(
      queryField((v, name) => intOf(v, name, fallback, min, max)),
      z.number().int().min(min).max(max).default(fallback),
    ),
  bool: (fallback: boolean) =>
    documentedAs(
      queryField((v, name) => boolOf(v, name, fallback)),
      z.boolean().default(fallback),
    ),
};

/** `page`/`page_size` as Mistral's list routes take them (0-based pages, 100 per page by default). */
export const pagingShape = {
  page: query.int(0, 0, 1_000_000),
  page_size: query.int(100, 1, 1000),
};

/** A route's `:id` path parameter. */
export const idParams = <K extends string>(key: K) => z.object({ [key]: z.string() } as Record<K, z.ZodString>);
