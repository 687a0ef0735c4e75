// Renders docs/errors.md from the error catalogue (src/error-catalogue.ts):
//   node --import tsx scripts/render-errors-doc.ts
// test/errors/catalogue.test.ts fails when the committed page differs from this rendering.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOGUE, type CatalogueEntry, type HttpEntry } from '../src/error-catalogue.js';

export const ERRORS_DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/errors.md');

const cell = (s: string) => s.replace(/\|/g, '\\|');

function statuses(e: HttpEntry): string {
  const also = (e.alsoAs ?? []).map((a) => `${a.status === 'any' ? 'any 4xx' : a.status} ${a.type === e.type ? '' : `\`${a.type}\` `}(${a.where})`);
  return [String(e.status), ...also].join('; ');
}

function batchNote(e: HttpEntry): string {
  if (!e.engine) return '';
  const parts = [e.engine.retry ? 'retried' : 'not retried'];
  if (e.engine.lineStatus) parts.push(`line status ${e.engine.lineStatus}`);
  if (e.engine.bodyType) parts.push(`body type \`${e.engine.bodyType}\``);
  if (e.engine.bodyCode === null) parts.push('body code `null`');
  return parts.join(', ');
}

export function renderErrorsDoc(): string {
  const entries = Object.entries(ERROR_CATALOGUE) as [string, CatalogueEntry][];
  const http = entries.filter((e): e is [string, HttpEntry] => !e[1].line);
  const lines = entries.filter(([, e]) => e.line);
  return [
    '# Errors',
    '',
    '<!-- Generated from src/error-catalogue.ts by scripts/render-errors-doc.ts; do not edit by hand. -->',
    '',
    'Every error batchd answers has Mistral\'s body, `{"object": "error", "message": "…", "type": "…", "param": "…" | null, "code": "…"}`,',
    'sent as `application/json`; 422s also carry a FastAPI-style `detail` list (`[{loc, msg, type}]`), which the SDK',
    'parses as `HTTPValidationError` on the inference routes. `code` is stable: match on it, not on the message.',
    '',
    "Failed requests of a batch job are not HTTP errors: each goes to the job's error file as",
    '`{"id", "custom_id", "response": {"status_code", "body"} | null, "error": {"message", "code"}}`, with `code` from this',
    'table. For inference failures (those with a "batch line" note) the online routes answer with the status and type',
    'below, while the error file records the engine\'s own status and body; "retried" ones are retried with backoff',
    'before the line is given up.',
    '',
    '| code | status | type | meaning | batch line |',
    '|---|---|---|---|---|',
    ...http.map(([code, e]) => `| \`${code}\` | ${statuses(e)} | \`${e.type}\` | ${cell(e.meaning)} | ${batchNote(e)} |`),
    '',
    '## Only in error files',
    '',
    '| code | meaning |',
    '|---|---|',
    ...lines.map(([code, e]) => `| \`${code}\` | ${cell(e.meaning)} |`),
    '',
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.writeFileSync(ERRORS_DOC, renderErrorsDoc());
  console.log(`wrote ${path.relative(process.cwd(), ERRORS_DOC)}`);
}
