/**
 * JSON Schema → a GBNF grammar whose every answer is valid JSON matching the schema AND
 * fits a token budget. Each generated token is at least one byte of text, so an answer
 * of at most B bytes takes at most B tokens: the compiler bounds every string and array
 * that the schema leaves open (as long as the budget allows, as short as it requires)
 * and checks the largest possible answer against the budget. Generation under such a
 * grammar always closes its JSON before max_tokens, on a random-weight model as on a
 * real one. Keywords that constrain values in ways a grammar cannot follow (pattern,
 * not, wide numeric ranges…) are refused with the schema path, never silently ignored.
 */

/** A schema narrowed to what the grammar can express; open sizes are resolved at compile time. */
export type JsonNode =
  | { kind: 'literal'; values: unknown[] }
  | { kind: 'string'; min: number; max: number | null; format?: 'date' | 'time' | 'date-time' }
  | { kind: 'number'; integer: boolean; nonNegative: boolean; positive: boolean }
  | { kind: 'array'; item: JsonNode; min: number; max: number | null }
  | { kind: 'object'; props: [string, JsonNode][] }
  | { kind: 'map'; value: JsonNode; min: number; max: number | null }
  | { kind: 'oneOf'; options: JsonNode[] }
  /** Text written as is, not as JSON (a chat template's words around a tool call's arguments). */
  | { kind: 'text'; text: string }
  /** Its parts one after another. */
  | { kind: 'seq'; parts: JsonNode[] };

/** A schema the grammar cannot follow, or one whose smallest answer exceeds the budget. */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'SchemaError';
  }
}

/** Keywords that only annotate: ignored. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  '$schema',
  '$id',
  '$comment',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  'strict',
  'name',
  'format',
  'contentMediaType',
  'contentEncoding',
]);
/** Keywords the compiler reads; any other keyword constrains in a way it cannot follow. */
const KNOWN = new Set([
  'type',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  '$ref',
  '$defs',
  'definitions',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'minProperties',
  'maxProperties',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'nullable',
]);
/** Integer ranges up to this many values are written out as an enumeration. */
const MAX_ENUMERATED_RANGE = 256;
/** Depth of free-form JSON (json_object, `{}` schemas): objects of arrays of scalars. */
const ANY_DEPTH = 2;
/** Keys of free-form objects. */
const MAX_KEY_LENGTH = 32;

type Schema = Record<string, unknown>;

/** Free-form JSON to `depth` levels of nesting. */
export function anyJson(depth = ANY_DEPTH): JsonNode {
  const scalars: JsonNode[] = [
    { kind: 'string', min: 0, max: null },
    { kind: 'number', integer: false, nonNegative: false, positive: false },
    { kind: 'literal', values: [true, false, null] },
  ];
  if (depth === 0) return { kind: 'oneOf', options: scalars };
  const inner = anyJson(depth - 1);
  return { kind: 'oneOf', options: [...scalars, { kind: 'array', item: inner, min: 0, max: null }, { kind: 'map', value: inner, min: 0, max: null }] };
}

/** json_object mode: any JSON object. */
export const anyJsonObject = (): JsonNode => ({ kind: 'map', value: anyJson(ANY_DEPTH - 1), min: 0, max: null });

/** Reads a client's JSON Schema; `path` names it in errors (e.g. "response_format.json_schema.schema"). */
export function parseSchema(schema: unknown, path: string): JsonNode {
  const root = schema;
  const resolving: string[] = [];

  const resolveRef = (ref: string, at: string): unknown => {
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    const defs = m && root && typeof root === 'object' ? ((root as Schema)[m[1]!] as Schema | undefined) : undefined;
    const target = m && defs ? defs[decodeURIComponent(m[2]!)] : undefined;
    if (target === undefined) throw new SchemaError(at, `$ref '${ref}' does not point into this schema's $defs`);
    return target;
  };

  const node = (s: unknown, at: string): JsonNode => {
    if (s === true || (s && typeof s === 'object' && !Array.isArray(s) && Object.keys(s).every((k) => ANNOTATIONS.has(k)))) return anyJson();
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new SchemaError(at, 'must be a JSON Schema object');
    const sch = s as Schema;
    for (const key of Object.keys(sch)) {
      if (!KNOWN.has(key) && !ANNOTATIONS.has(key)) throw new SchemaError(at, `the keyword '${key}' is not supported for constrained generation`);
    }
    if (typeof sch.$ref === 'string') {
      if (resolving.includes(sch.$ref)) throw new SchemaError(at, `recursive schema ('${sch.$ref}') is not supported: its answers have no size limit`);
      resolving.push(sch.$ref);
      try {
        return node(resolveRef(sch.$ref, at), at);
      } finally {
        resolving.pop();
      }
    }
    if ('const' in sch) return { kind: 'literal', values: [sch.const] };
    if (sch.enum !== undefined) {
      if (!Array.isArray(sch.enum) || sch.enum.length === 0) throw new SchemaError(`${at}.enum`, 'must be a non-empty array');
      return { kind: 'literal', values: sch.enum };
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      if (sch[key] === undefined) continue;
      const list = sch[key];
      if (!Array.isArray(list) || list.length === 0) throw new SchemaError(`${at}.${key}`, 'must be a non-empty array of schemas');
      // oneOf's "exactly one" holds whenever the options do not overlap, as in the tagged unions clients write.
      return { kind: 'oneOf', options: list.map((o, i) => node(o, `${at}.${key}[${i}]`)) };
    }
    if (sch.allOf !== undefined) {
      if (!Array.isArray(sch.allOf) || sch.allOf.length !== 1) throw new SchemaError(`${at}.allOf`, 'only an allOf of a single schema is supported');
      const { allOf: _allOf, ...rest } = sch;
      return node({ ...rest, ...(sch.allOf[0] as Schema) }, at);
    }
    let type = sch.type;
    if (sch.nullable === true && typeof type === 'string') type = [type, 'null'];
    if (Array.isArray(type)) {
      if (type.length === 0) throw new SchemaError(`${at}.type`, 'must not be empty');
      return type.length === 1
        ? node({ ...sch, type: type[0], nullable: false }, at)
        : { kind: 'oneOf', options: type.map((t) => node({ ...sch, type: t, nullable: false }, at)) };
    }
    if (type === undefined) type = sch.properties ? 'object' : sch.items ? 'array' : undefined;
    switch (type) {
      case 'null':
        return { kind: 'literal', values: [null] };
      case 'boolean':
        return { kind: 'literal', values: [true, false] };
      case 'string':
        return stringNode(sch, at);
      case 'integer':
      case 'number':
        return numberNode(sch, type === 'integer', at);
      case 'array':
        return arrayNode(sch, at);
      case 'object':
        return objectNode(sch, at);
      case undefined:
        return anyJson();
      default:
        throw new SchemaError(`${at}.type`, `unknown type '${String(type)}'`);
    }
  };

  const count = (sch: Schema, key: string, at: string): number | null => {
    const v = sch[key];
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SchemaError(`${at}.${key}`, 'must be a non-negative integer');
    return v;
  };

  const stringNode = (sch: Schema, at: string): JsonNode => {
    const min = count(sch, 'minLength', at) ?? 0;
    const max = count(sch, 'maxLength', at);
    if (max !== null && max < min) throw new SchemaError(at, 'maxLength is below minLength: no string satisfies it');
    const format = sch.format === 'date' || sch.format === 'time' || sch.format === 'date-time' ? sch.format : undefined;
    // Other formats (email, uri, uuid…) are annotations by default in JSON Schema: not enforced.
    return { kind: 'string', min, max, format };
  };

  const numberNode = (sch: Schema, integer: boolean, at: string): JsonNode => {
    const num = (key: string) => {
      const v = sch[key];
      if (v === undefined) return null;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new SchemaError(`${at}.${key}`, 'must be a number');
      return v;
    };
    if (sch.multipleOf !== undefined) throw new SchemaError(at, "the keyword 'multipleOf' is not supported for constrained generation");
    const exMin = num('exclusiveMinimum');
    const exMax = num('exclusiveMaximum');
    const min = Math.max(num('minimum') ?? -Infinity, exMin === null ? -Infinity : integer ? Math.floor(exMin) + 1 : exMin);
    const max = Math.min(num('maximum') ?? Infinity, exMax === null ? Infinity : integer ? Math.ceil(exMax) - 1 : exMax);
    if (min === -Infinity && max === Infinity) return { kind: 'number', integer, nonNegative: false, positive: false };
    if (min > max) throw new SchemaError(at, 'minimum is above maximum: no number satisfies it');
    if (integer && Number.isFinite(min) && Number.isFinite(max) && max - min < MAX_ENUMERATED_RANGE) {
      const lo = Math.ceil(min);
      return { kind: 'literal', values: Array.from({ length: Math.floor(max) - lo + 1 }, (_, i) => lo + i) };
    }
    if (max === Infinity && (min === 0 || (min === 1 && integer) || (exMin === 0 && min === 0))) {
      return { kind: 'number', integer, nonNegative: true, positive: min === 1 || exMin === 0 };
    }
    throw new SchemaError(
      at,
      `this numeric range (minimum ${min}, maximum ${max}) is not supported for constrained generation; use an integer range of at most ${MAX_ENUMERATED_RANGE} values, or minimum 0`,
    );
  };

  const arrayNode = (sch: Schema, at: string): JsonNode => {
    const min = count(sch, 'minItems', at) ?? 0;
    const max = count(sch, 'maxItems', at);
    if (max !== null && max < min) throw new SchemaError(at, 'maxItems is below minItems: no array satisfies it');
    if (Array.isArray(sch.items)) throw new SchemaError(`${at}.items`, 'tuple items are not supported; give one schema');
    return { kind: 'array', item: sch.items === undefined ? anyJson(ANY_DEPTH - 1) : node(sch.items, `${at}.items`), min, max };
  };

  const objectNode = (sch: Schema, at: string): JsonNode => {
    const props = (sch.properties ?? {}) as Schema;
    if (typeof props !== 'object' || Array.isArray(props)) throw new SchemaError(`${at}.properties`, 'must be an object');
    const required = sch.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string'))
      throw new SchemaError(`${at}.required`, 'must be an array of property names');
    for (const r of required as string[]) if (!(r in props)) throw new SchemaError(`${at}.required`, `'${r}' is required but has no schema in properties`);
    const names = Object.keys(props);
    if (names.length === 0 && sch.additionalProperties !== false) {
      const value =
        sch.additionalProperties === undefined || sch.additionalProperties === true
          ? anyJson(ANY_DEPTH - 1)
          : node(sch.additionalProperties, `${at}.additionalProperties`);
      const min = count(sch, 'minProperties', at) ?? 0;
      return { kind: 'map', value, min, max: count(sch, 'maxProperties', at) };
    }
    // Every declared property is written, in order: optional ones too (valid, and a model may need them).
    return { kind: 'object', props: names.map((n) => [n, node(props[n], `${at}.properties.${n}`)]) };
  };

  return node(schema, path);
}

/** Open sizes chosen for one compilation. */
interface Sizes {
  /** Characters of a string without maxLength. */
  chars: number;
  /** Items of an array (entries of a map) without maxItems. */
  items: number;
}

/** A string character: any but quote, backslash and controls, or a two-character escape. At most 4 bytes (UTF-8). */
const CHAR_BYTES = 4;
const INT_BYTES = 17; // "-" and 16 digits
const FRACTION_DIGITS = 8;

const stringMax = (n: { min: number; max: number | null }, z: Sizes) => Math.max(n.min, Math.min(n.max ?? Infinity, z.chars));
const itemsMax = (n: { min: number; max: number | null }, z: Sizes) => Math.max(n.min, Math.min(n.max ?? Infinity, z.items));
const FORMAT_BYTES = { date: 10, time: 18, 'date-time': 29 } as const;

/** The largest answer, in bytes, the grammar of `n` allows under sizes `z`. */
export function maxBytes(n: JsonNode, z: Sizes): number {
  switch (n.kind) {
    case 'literal':
      return Math.max(...n.values.map((v) => Buffer.byteLength(JSON.stringify(v))));
    case 'string':
      return 2 + (n.format ? FORMAT_BYTES[n.format] : stringMax(n, z) * CHAR_BYTES);
    case 'number':
      return INT_BYTES + (n.integer ? 0 : 1 + FRACTION_DIGITS);
    case 'array': {
      const k = itemsMax(n, z);
      // "[" items joined by ", " "]"
      return 2 + k * maxBytes(n.item, z) + Math.max(0, k - 1) * 2;
    }
    case 'map': {
      const k = itemsMax(n, z);
      return 2 + k * (2 + MAX_KEY_LENGTH * CHAR_BYTES + 2 + maxBytes(n.value, z)) + Math.max(0, k - 1) * 2;
    }
    case 'object':
      return 2 + n.props.reduce((sum, [key, v]) => sum + Buffer.byteLength(JSON.stringify(key)) + 2 + maxBytes(v, z), 0) + Math.max(0, n.props.length - 1) * 2;
    case 'oneOf':
      return Math.max(...n.options.map((o) => maxBytes(o, z)));
    case 'text':
      return Buffer.byteLength(n.text);
    case 'seq':
      return n.parts.reduce((sum, p) => sum + maxBytes(p, z), 0);
  }
}

/** Preferred open sizes, tried largest first; strings shrink before arrays do. */
const ITEM_STEPS = [8, 4, 2, 1, 0];
const MAX_CHARS = 4096;
/** Below this many characters per open string, fewer array items are tried first. */
const COMFORTABLE_CHARS = 48;

/** The largest sizes whose largest answer fits `budget` bytes (= tokens), or null if even the smallest does not. */
export function fitSizes(n: JsonNode, budget: number): Sizes | null {
  let fallback: Sizes | null = null;
  for (const items of ITEM_STEPS) {
    if (maxBytes(n, { chars: 0, items }) > budget) continue;
    let lo = 0;
    let hi = MAX_CHARS;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (maxBytes(n, { chars: mid, items }) <= budget) lo = mid;
      else hi = mid - 1;
    }
    if (lo >= COMFORTABLE_CHARS) return { chars: lo, items };
    fallback ??= { chars: lo, items };
  }
  return fallback;
}

/** GBNF literal of a text. */
const lit = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;

/**
 * The grammar of `n`, with open sizes fitted to `budget` tokens. `prefix` (e.g. a tool-call
 * marker already in the prompt) is not part of it. Throws SchemaError at `path` when even
 * the smallest answer cannot fit.
 */
export function compileGrammar(n: JsonNode, budget: number, path: string): { gbnf: string; maxTokens: number } {
  const z = fitSizes(n, budget);
  if (!z) {
    const least = maxBytes(n, { chars: 0, items: 0 });
    throw new SchemaError(
      path,
      `an answer of this schema can need up to ${least} tokens even at its smallest, but only ${budget} are available (raise max_tokens, or shorten the prompt)`,
    );
  }
  const rules = new Map<string, string>();
  const rule = (name: string, body: () => string) => {
    if (!rules.has(name)) {
      rules.set(name, '');
      rules.set(name, body());
    }
    return name;
  };
  let counter = 0;
  const sep = rule('sep', () => '"," " "?');
  const kv = rule('kv', () => '":" " "?');
  const char = rule('char', () => '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt]');
  const repeat = (item: string, min: number, max: number): string => {
    if (max === 0) return '';
    const first = min > 0 ? item : `(${item})?`;
    if (max === 1) return first;
    const rest = `(${sep} ${item}){${Math.max(0, min - 1)},${max - 1}}`;
    return min > 0 ? `${item} ${rest}` : `(${item} ${rest})?`;
  };
  const emit = (node: JsonNode): string => {
    switch (node.kind) {
      case 'literal':
        return rule(`lit${counter++}`, () => node.values.map((v) => lit(JSON.stringify(v))).join(' | '));
      case 'string': {
        if (node.format === 'date') return rule('date', () => '"\\"" [0-9]{4} "-" [0-1] [0-9] "-" [0-3] [0-9] "\\""');
        if (node.format === 'time')
          return rule('time', () => '"\\"" [0-2] [0-9] ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{3})? ("Z" | [+-] [0-2] [0-9] ":" [0-5] [0-9]) "\\""');
        if (node.format === 'date-time')
          return rule(
            'datetime',
            () =>
              '"\\"" [0-9]{4} "-" [0-1] [0-9] "-" [0-3] [0-9] "T" [0-2] [0-9] ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{3})? ("Z" | [+-] [0-2] [0-9] ":" [0-5] [0-9]) "\\""',
          );
        const max = stringMax(node, z);
        return rule(`str-${node.min}-${max}`, () => (max === 0 ? '"\\"\\""' : `"\\"" ${char}{${node.min},${max}} "\\""`));
      }
      case 'number': {
        const digits = node.positive ? '[1-9] [0-9]{0,15}' : '("0" | [1-9] [0-9]{0,15})';
        const sign = node.nonNegative ? '' : '"-"? ';
        const fraction = node.integer ? '' : ` ("." [0-9]{1,${FRACTION_DIGITS}})?`;
        return rule(`num-${node.integer ? 'i' : 'f'}-${node.nonNegative ? 'n' : 'a'}${node.positive ? 'p' : ''}`, () => `${sign}${digits}${fraction}`);
      }
      case 'array': {
        const item = emit(node.item);
        return rule(`arr${counter++}`, () => `"[" ${repeat(item, node.min, itemsMax(node, z))} "]"`);
      }
      case 'map': {
        const value = emit(node.value);
        const key = rule(`key`, () => `"\\"" ${char}{1,${MAX_KEY_LENGTH}} "\\""`);
        const entry = rule(`entry${counter++}`, () => `${key} ${kv} ${value}`);
        return rule(`map${counter++}`, () => `"{" ${repeat(entry, node.min, itemsMax(node, z))} "}"`);
      }
      case 'object': {
        if (node.props.length === 0) return rule('empty-object', () => '"{" "}"');
        const parts = node.props.map(([key, v], i) => `${i > 0 ? `${sep} ` : ''}${lit(JSON.stringify(key))} ${kv} ${emit(v)}`);
        return rule(`obj${counter++}`, () => `"{" ${parts.join(' ')} "}"`);
      }
      case 'oneOf': {
        const options = node.options.map(emit);
        return rule(`alt${counter++}`, () => options.join(' | '));
      }
      case 'text':
        return rule(`text${counter++}`, () => lit(node.text));
      case 'seq': {
        const parts = node.parts.map(emit);
        return rule(`seq${counter++}`, () => parts.join(' '));
      }
    }
  };
  const top = emit(n);
  const gbnf = [`root ::= ${top}`, ...[...rules].map(([name, body]) => `${name} ::= ${body}`)].join('\n');
  return { gbnf, maxTokens: maxBytes(n, z) };
}
