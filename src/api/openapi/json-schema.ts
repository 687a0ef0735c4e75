import { ignoreOverride, zodToJsonSchema, type Options } from 'zod-to-json-schema';
import { ZodOptional, ZodType, type ZodTypeAny } from 'zod';
import { documentedShape } from '../zod-provider.js';

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) as a plain object. */
export type JsonSchema = Record<string, unknown>;

const isZod = (s: unknown): s is ZodTypeAny => s instanceof ZodType;

const OPTIONS: Partial<Options<'jsonSchema2019-09'>> = {
  // 2019-09 is zod-to-json-schema's newest target; 2020-12 differs from it only in tuples (see to2020).
  target: 'jsonSchema2019-09',
  // Every schema inline: the document is read by people and generators, and has no recursive schemas.
  $refStrategy: 'none',
  // A transform documents what the client sends (its input), not what the handler gets.
  effectStrategy: 'input',
  pipeStrategy: 'input',
  // zod's default (strip) drops unknown keys without refusing them: no additionalProperties: false for it,
  // and no `additionalProperties: true` either (the default); .strict() objects say false.
  removeAdditionalStrategy: 'strict',
  allowedAdditionalProperties: undefined,
  override: (def) => {
    const shape = documentedShape(def);
    // Whether a documented field may be left out is its object's business (its `required`), not the field's schema.
    return shape ? convert(shape instanceof ZodOptional ? shape.unwrap() : shape) : ignoreOverride;
  },
};

/** The converter's output without its `$schema` (the document declares the dialect once). */
function convert(schema: ZodTypeAny): JsonSchema {
  const { $schema: _, ...rest } = zodToJsonSchema(schema, OPTIONS) as JsonSchema;
  return rest;
}

/**
 * A route schema as JSON Schema 2020-12: a zod schema converted, a plain JSON Schema as it
 * is (a route may declare one), anything else null.
 */
export function toJsonSchema(schema: unknown): JsonSchema | null {
  if (isZod(schema)) {
    try {
      return to2020(convert(schema)) as JsonSchema;
    } catch (err) {
      // One schema the converter cannot read must not take the whole document down: it is documented as "anything".
      return { description: `(not expressible as JSON Schema: ${(err as Error).message})` };
    }
  }
  return schema && typeof schema === 'object' && !Array.isArray(schema) ? (schema as JsonSchema) : null;
}

/** Whether a zod schema accepts a missing value (an optional body or parameter). */
export function acceptsMissing(schema: unknown): boolean {
  return isZod(schema) && schema.safeParse(undefined).success;
}

/** Keywords whose value is data, not a schema: left as they are. */
const VALUES = new Set(['default', 'const', 'enum', 'examples']);

/** 2019-09's tuple form (`items: [...]`, `additionalItems`) in 2020-12's (`prefixItems`, `items`). */
function to2020(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(to2020);
  if (!node || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) out[k] = VALUES.has(k) ? v : to2020(v);
  if (Array.isArray(out.items)) {
    out.prefixItems = out.items;
    delete out.items;
    if ('additionalItems' in out) {
      out.items = out.additionalItems;
      delete out.additionalItems;
    }
  }
  return out;
}
