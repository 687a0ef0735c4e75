import { isUtf8 } from 'node:buffer';
import type { HttpErrorCode } from '../error-catalogue.js';

/** One request of a batch input: what a valid JSONL line holds. */
export interface BatchLine {
  custom_id: string | null;
  body: Record<string, unknown>;
}

/** `code` is in the error catalogue: an inline request's 422 code, and an uploaded line's `detail[].type`. */
export type LineProblem = { code: HttpErrorCode; message: string };

export const MAX_CUSTOM_ID_CHARS = 512;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the parsed value of one line (or one inline request) against the batch line format. */
export function checkBatchRequest(value: unknown): BatchLine | LineProblem {
  if (!isPlainObject(value)) {
    return { code: 'line_not_object', message: `must be a JSON object like {"custom_id": "1", "body": {...}}, got ${describe(value)}` };
  }
  const { custom_id, body } = value;
  if (body === undefined) return { code: 'missing_body', message: 'has no "body": each request needs a "body" object' };
  if (!isPlainObject(body)) return { code: 'body_not_object', message: `"body" must be a JSON object, got ${describe(body)}` };
  if (custom_id !== undefined && custom_id !== null && typeof custom_id !== 'string') {
    return { code: 'invalid_custom_id', message: `"custom_id" must be a string, got ${describe(custom_id)}` };
  }
  if (typeof custom_id === 'string' && custom_id.length > MAX_CUSTOM_ID_CHARS) {
    return { code: 'invalid_custom_id', message: `"custom_id" is ${custom_id.length} characters long; the limit is ${MAX_CUSTOM_ID_CHARS}` };
  }
  return { custom_id: custom_id ?? null, body };
}

/** Strips a trailing CR (CRLF files) and reports whether the line is blank. */
export function trimLine(bytes: Buffer): Buffer {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  return end === bytes.length ? bytes : bytes.subarray(0, end);
}

export function isBlank(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** Parses one raw line of a batch file. The runner uses the same function, so both read a line alike. */
export function parseBatchLine(raw: Buffer): BatchLine | LineProblem {
  const bytes = trimLine(raw);
  const text = bytes.toString('utf8');
  // Decoding turns bad UTF-8 into U+FFFD, so the full check runs only when one shows up.
  if (text.includes('\uFFFD') && !isUtf8(bytes)) return { code: 'invalid_utf8', message: 'is not valid UTF-8' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof RangeError ? 'nests too deeply' : (err as Error).message;
    return { code: 'invalid_json', message: `is not valid JSON (${reason})` };
  }
  return checkBatchRequest(value);
}

export const isProblem = (r: BatchLine | LineProblem): r is LineProblem => 'code' in r;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
