import type { FastifySchemaCompiler, FastifySerializerCompiler, FastifyTypeProvider } from 'fastify';
import { z, type ZodError, type ZodTypeAny } from 'zod';
import { apiError, ApiError, type ValidationDetail } from '../errors.js';

/**
 * Routes typed by their zod schemas: `app.withTypeProvider<ZodTypeProvider>()` makes a
 * route's `req.params`, `req.query` and `req.body` the outputs of its `schema` entries.
 * In-repo rather than fastify-type-provider-zod: its 4.x line (the one for zod 3) turns a
 * failed parse into Fastify's generic FST_ERR_VALIDATION error, and every message here
 * must stay the API's own (see validatorCompiler).
 */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends ZodTypeAny ? z.output<this['schema']> : unknown;
  serializer: this['schema'] extends ZodTypeAny ? z.input<this['schema']> : unknown;
}

/**
 * Parses a request part with its route's schema. A failure is returned as an ApiError, which
 * Fastify hands to the error handler unchanged: the error a query helper raised (kept whole
 * in its issue, see apiIssue), or for a body FastAPI's 422 with its `detail` list.
 * Fastify passes null for an absent body.
 */
export const validatorCompiler: FastifySchemaCompiler<ZodTypeAny> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: toValidationError(result.error) };
  };

/** Records `err` as the issue of a zod transform or refinement, so the validator answers with it as it is. */
export function apiIssue(ctx: z.RefinementCtx, err: ApiError): typeof z.NEVER {
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: err.message, params: { apiError: err } });
  return z.NEVER;
}

/** Runs one of the API's throwing parsers inside a zod transform: its ApiError becomes the issue. */
export function apiTransform<I, O>(parse: (value: I, ctx: z.RefinementCtx) => O) {
  return (value: I, ctx: z.RefinementCtx): O => {
    try {
      return parse(value, ctx);
    } catch (err) {
      if (err instanceof ApiError) return apiIssue(ctx, err);
      throw err;
    }
  };
}

function toValidationError(err: ZodError): ApiError {
  // Fields parse in the schema's key order, so the first issue is the first error the handler used to throw.
  const first = err.issues[0];
  const carried = first?.code === z.ZodIssueCode.custom ? (first.params?.apiError as unknown) : undefined;
  return carried instanceof ApiError ? carried : fromZod(err);
}

export function fromZod(err: ZodError): ApiError {
  // FastAPI names each extra field in its own entry: {type:"extra_forbidden", loc:["body","store"], msg:"Extra inputs are not permitted"}.
  const detail: ValidationDetail[] = err.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ loc: ['body', ...i.path, k], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }))
      : [{ loc: ['body', ...i.path], msg: i.message, type: i.code }],
  );
  const first = err.issues[0]!;
  const where = first.path.length ? first.path.join('.') : 'body';
  const param = first.code === 'unrecognized_keys' ? [...first.path, first.keys[0]!].join('.') : where;
  const msg = first.code === 'unrecognized_keys' ? `Extra inputs are not permitted: ${first.keys.map((k) => `'${k}'`).join(', ')}` : first.message;
  return apiError('validation_error', `${where}: ${msg}`, { param, detail });
}

/**
 * Replies serialize with JSON.stringify whatever a route's `response` schema says: a zod
 * response schema documents the reply in /openapi.json, it does not reshape it (Fastify's
 * default compiler would take it for a JSON Schema and fail).
 */
export const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

/** What /openapi.json shows for a schema the converter cannot see through, by the schema's definition. */
const documented = new WeakMap<object, ZodTypeAny>();

/**
 * A schema whose parse hides its shape from the OpenAPI converter (a transform over the raw
 * query, a custom parser), with the schema /openapi.json describes it by instead. Validation
 * is unchanged: `schema` is returned as is.
 */
export function documentedAs<T extends ZodTypeAny>(schema: T, shape: ZodTypeAny): T {
  documented.set(schema._def as object, shape);
  return schema;
}

/** The shape documentedAs gave a schema's definition, if any. */
export function documentedShape(def: object): ZodTypeAny | undefined {
  return documented.get(def);
}
