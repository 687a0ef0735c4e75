import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOGUE, type CatalogueEntry, type ErrorType, type HttpEntry, type HttpErrorCode } from '../../src/error-catalogue.js';
import { apiError, errorBody } from '../../src/errors.js';
import { engineError } from '../../src/engines/engine.js';
import { engineToApiError } from '../../src/api/inference.js';
import { failedWithoutResponse, renderResultLine } from '../../src/results/render.js';
import { ERRORS_DOC, renderErrorsDoc } from '../../scripts/render-errors-doc.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const TYPES: ErrorType[] = [
  'invalid_request_error',
  'authentication_error',
  'not_found_error',
  'conflict_error',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'storage_error',
  'internal_error',
  'upstream_error',
];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Use {
  code: string;
  where: string;
  /** The status and type the call sends, for the old positional constructor and builders (checked against the catalogue). */
  status?: number;
  type?: string;
}

const LEGACY: Record<string, { status: number; type: ErrorType }> = {
  badRequest: { status: 400, type: 'invalid_request_error' },
  unprocessable: { status: 422, type: 'invalid_request_error' },
  conflict: { status: 409, type: 'conflict_error' },
};

/**
 * Every error code src/ names in a literal: the builders' first argument (apiError, errorBody,
 * engineError and the old badRequest/unprocessable/conflict/notFound), the old positional
 * `new ApiError(status, type, code, …)`, batch-line problems (`code: '…'`, `this.fail('…'`) and
 * the codes of lines that fail without a response.
 */
function codesUsed(): Use[] {
  return sourceFiles(SRC).flatMap((file) => codesIn(fs.readFileSync(file, 'utf8'), path.relative(SRC, file)));
}

function codesIn(source: string, rel: string): Use[] {
  const uses: Use[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const at = (index: number) => `${rel}:${text.slice(0, index).split('\n').length}`;
  for (const m of text.matchAll(/\b(apiError|errorBody|engineError|badRequest|unprocessable|conflict)\(\s*'([a-z0-9_]+)'/g)) {
    uses.push({ code: m[2]!, where: at(m.index!), ...LEGACY[m[1]!] });
  }
  for (const m of text.matchAll(/\bnotFound\(\s*'([a-z_]+)'/g))
    uses.push({ code: `${m[1]}_not_found`, where: at(m.index!), status: 404, type: 'not_found_error' });
  for (const m of text.matchAll(/\bnew ApiError\(\s*(\d{3}),\s*'([a-z_]+)',\s*([^,]+?),/g)) {
    for (const c of m[3]!.matchAll(/'([a-z0-9_]+)'/g)) uses.push({ code: c[1]!, where: at(m.index!), status: Number(m[1]), type: m[2]! });
  }
  for (const m of text.matchAll(/\bnew EngineError\(\{\s*code:\s*'([a-z0-9_]+)'/g)) uses.push({ code: m[1]!, where: at(m.index!) });
  for (const m of text.matchAll(/\bfailedWithoutResponse\(\s*[^,]+,\s*[^,]+,\s*'([a-z0-9_]+)'/g)) uses.push({ code: m[1]!, where: at(m.index!) });
  // The runner's line outcomes: fail(status, body, message, 'code').
  for (const m of text.matchAll(/\bfail\([^;]*?,\s*'([a-z0-9_]+)'\)/g)) uses.push({ code: m[1]!, where: at(m.index!) });
  if (rel.startsWith('ingest')) {
    for (const m of text.matchAll(/\bcode: '([a-z0-9_]+)'|\bthis\.fail\('([a-z0-9_]+)'/g)) uses.push({ code: (m[1] ?? m[2])!, where: at(m.index!) });
  }
  return uses;
}

const entries = Object.entries(ERROR_CATALOGUE) as [string, CatalogueEntry][];
const httpEntries = entries.filter((e): e is [HttpErrorCode, HttpEntry] => !e[1].line);

describe('the error catalogue', () => {
  test('every error code used in src/ is in the catalogue, with a status and type it allows', () => {
    const uses = codesUsed();
    // The scan itself must keep finding the codes (a renamed builder would otherwise pass silently).
    assert.ok(new Set(uses.map((u) => u.code)).size >= 60, `only ${new Set(uses.map((u) => u.code)).size} codes found`);
    const unknown = uses.filter((u) => !Object.hasOwn(ERROR_CATALOGUE, u.code)).map((u) => `${u.code} (${u.where})`);
    assert.deepEqual(unknown, [], `codes missing from src/error-catalogue.ts:\n  ${unknown.join('\n  ')}`);
    const mismatched = uses
      .filter((u) => u.status !== undefined)
      .filter((u) => {
        const e = ERROR_CATALOGUE[u.code as HttpErrorCode] as CatalogueEntry;
        if (e.line) return true;
        const allowed = [{ status: e.status, type: e.type }, ...(e.alsoAs ?? [])];
        return !allowed.some((a) => (a.status === u.status || a.status === 'any') && a.type === u.type);
      })
      .map((u) => `${u.code} sent as ${u.status} ${u.type} (${u.where})`);
    assert.deepEqual(mismatched, [], `calls that disagree with the catalogue:\n  ${mismatched.join('\n  ')}`);
  });

  test('the scan finds codes in each kind of call, the old ones included', () => {
    const sample = [
      "throw apiError('a_code', 'm', { param: 'p' });",
      "throw badRequest('b_code', `m`, 'p');",
      "throw new ApiError(404, 'not_found_error', 'c_code', `m`, 'input_files');",
      "return new ApiError(400, 'invalid_request_error', x === 'd_code' ? 'd_code' : 'e_code', `m`);",
      "throw notFound('thing', id);",
      "return engineError('f_code', message, { status: 400 });",
      "failedWithoutResponse(lineNo, customId, 'g_code', 'm');",
      "if (!line.request) return fail(null, null, `Invalid: ${x}`, 'h_code');",
      "// apiError('not_a_code', …) in a comment is not a use",
    ].join('\n');
    const found = codesIn(sample, 'api/sample.ts').map((u) => `${u.code}${u.status ? `:${u.status}` : ''}`);
    assert.deepEqual(found.sort(), [
      'a_code',
      'b_code:400',
      'c_code:404',
      'd_code:400',
      'd_code:400',
      'e_code:400',
      'f_code',
      'g_code',
      'h_code',
      'thing_not_found:404',
    ]);
  });

  test('every code the catalogue lists is used somewhere in src/', () => {
    const used = new Set(codesUsed().map((u) => u.code));
    // Sent without a literal of their own: framework 4xx codes fall back to bad_request; engine codes
    // built from a computed code (upstream status) and Fastify's not-found ids.
    const computed = new Set(['bad_request', 'upstream_rate_limited', 'upstream_unavailable', 'upstream_rejected', 'file_not_found']);
    const unused = entries.map(([c]) => c).filter((c) => !used.has(c) && !computed.has(c));
    assert.deepEqual(unused, [], 'catalogue entries nothing sends (remove them, or list why they have no literal)');
  });

  test("every HTTP entry renders to Mistral's error body, with its status and type", () => {
    for (const [code, e] of httpEntries) {
      assert.ok(TYPES.includes(e.type), code);
      assert.ok(e.status >= 400 && e.status <= 599, code);
      assert.ok(e.meaning.length > 10 && !e.meaning.includes('\n'), `${code}: a one-line meaning`);
      const err = apiError(code, 'what went wrong', { param: 'p' });
      assert.equal(err.status, e.status, code);
      assert.deepEqual(err.toBody(), { object: 'error', message: 'what went wrong', type: e.type, param: 'p', code }, code);
      for (const a of e.alsoAs ?? []) {
        const status = a.status === 'any' ? 418 : a.status;
        const v = apiError(code, 'm', { status });
        assert.deepEqual([v.status, v.type], [status, a.type], `${code} as ${a.status}`);
      }
      const body = errorBody(code, 'm');
      assert.deepEqual(Object.keys(body), ['object', 'message', 'type', 'param', 'code'], code);
      assert.equal(body.code, e.engine?.bodyCode === null ? null : code, code);
    }
  });

  test('error-file-only entries render as an error line {message, code}', () => {
    for (const [code, e] of entries.filter(([, e]) => e.line)) {
      const line = JSON.parse(renderResultLine('job-1234-5678', failedWithoutResponse(0, 'c1', code as 'batch_expired', e.meaning)));
      assert.deepEqual(line.error, { message: e.meaning, code }, code);
      assert.equal(line.response, null);
    }
  });

  test('engine codes answer online as invalid_request_error when final, 429 rate_limited or 503 internal_error when retryable', () => {
    for (const [code, e] of httpEntries.filter(([, e]) => e.engine)) {
      const engine = engineError(code as Parameters<typeof engineError>[0], 'it failed', { param: 'input' });
      assert.equal(engine.retryable, e.engine!.retry, code);
      const online = engineToApiError(engine) as ReturnType<typeof apiError>;
      assert.equal(online.code, code);
      if (!e.engine!.retry) assert.equal(online.type, 'invalid_request_error', code);
      else assert.deepEqual([online.status, online.type], e.status === 429 ? [429, 'rate_limited'] : [503, 'internal_error'], code);
    }
  });

  test("docs/errors.md is the catalogue's current rendering (node --import tsx scripts/render-errors-doc.ts)", () => {
    assert.equal(fs.readFileSync(ERRORS_DOC, 'utf8'), renderErrorsDoc(), 'docs/errors.md is stale: run node --import tsx scripts/render-errors-doc.ts');
  });
});
