/** What a pre-parse scan found wrong with a JSON text, or null when it may be parsed. */
export type JsonScanProblem = { kind: 'too_deep'; limit: number } | { kind: 'too_many_items'; key: string; limit: number };

export interface JsonScanLimits {
  /** Open objects and arrays at once; one more is refused. */
  maxDepth: number;
  /** Count the items of the root object's array under this key, refusing the one past `maxItems`. */
  countKey?: string;
  maxItems?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * One pass over a JSON text before JSON.parse, allocating nothing: it stops at the first
 * container nested deeper than `maxDepth` (so no recursive walk, stringify or schema check
 * later can overflow the stack) and at the first item past `maxItems` of the root object's
 * `countKey` array (so a million-item inline `requests` array is refused without being
 * parsed). It does not validate: malformed text is left for JSON.parse to report, and a
 * problem found in malformed text is still a fair answer.
 */
export function scanJson(text: string, limits: JsonScanLimits): JsonScanProblem | null {
  const { maxDepth, countKey, maxItems = Infinity } = limits;
  let depth = 0;
  let rootIsObject = false;
  // Root object bookkeeping: where the last string at depth 1 was, and whether the value being read belongs to countKey.
  let keyStart = -1;
  let keyEnd = -1;
  let valueIsCounted = false;
  let counting = false;
  let expectItem = false;
  let items = 0;
  const tooMany: JsonScanProblem = { kind: 'too_many_items', key: countKey ?? '', limit: maxItems };
  // Called at the first character of any value: in the counted array, right after '[' or ',', it starts an item.
  const startsItemPastLimit = () => {
    const starts = counting && depth === 2 && expectItem;
    expectItem = false;
    return starts && ++items > maxItems;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      i = closingQuote(text, start);
      if (depth === 1) {
        keyStart = start;
        keyEnd = i;
      }
      if (startsItemPastLimit()) return tooMany;
      continue;
    }
    if (isSpace(c)) continue;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth === 0) rootIsObject = c === OPEN_BRACE;
      if (startsItemPastLimit()) return tooMany;
      if (c === OPEN_BRACKET && depth === 1 && valueIsCounted) {
        counting = true;
        expectItem = true;
        items = 0;
      }
      if (++depth > maxDepth) return { kind: 'too_deep', limit: maxDepth };
      continue;
    }
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 2 && counting) counting = false;
      expectItem = false;
      depth--;
      continue;
    }
    if (c === COMMA) {
      if (depth === 1) valueIsCounted = false;
      else if (depth === 2 && counting) expectItem = true;
      continue;
    }
    if (c === COLON) {
      if (depth === 1 && rootIsObject && countKey !== undefined) valueIsCounted = keyIs(text, keyStart, keyEnd, countKey);
      continue;
    }
    // A number, true, false or null: an item of the counted array if it starts one.
    if (startsItemPastLimit()) return tooMany;
  }
  return null;
}

/**
 * Index of the quote that ends the string starting at `from` (text.length if none). A quote
 * preceded by an odd run of backslashes is escaped. indexOf skips the string's content far
 * faster than a loop over its characters; each backslash run is counted once, so it stays O(n).
 */
function closingQuote(text: string, from: number): number {
  for (let j = from; ; j++) {
    j = text.indexOf('"', j);
    if (j < 0) return text.length;
    let backslashes = 0;
    while (j - 1 - backslashes >= from && text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return j;
  }
}

/** Whether the string text[start, end) names `key`, escapes decoded (only short escaped keys are decoded). */
function keyIs(text: string, start: number, end: number, key: string): boolean {
  if (start < 0) return false;
  const length = end - start;
  if (length === key.length) return text.startsWith(key, start);
  // "\u0072equests" is "requests" to JSON.parse: an escaped key is at most 6 units per character.
  if (length > key.length * 6) return false;
  let escaped = false;
  for (let i = start; i < end && !escaped; i++) escaped = text.charCodeAt(i) === BACKSLASH;
  if (!escaped) return false;
  try {
    return JSON.parse(text.slice(start - 1, end + 1)) === key;
  } catch {
    return false;
  }
}
