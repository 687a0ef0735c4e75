import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * Only the queue (the job lifecycle and ledger) and the store (files, keys, blobs'
 * pieces, storage usage, settings, metrics, migrations, the database handles) speak SQL.
 */
const MAY_IMPORT_KYSELY = ['queue/', 'store/'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Static imports and re-exports (type-only too) and dynamic import() of kysely or a kysely subpath. */
const KYSELY =
  /\b(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]kysely(?:\/[^'"]*)?['"]|\bimport\(\s*['"]kysely(?:\/[^'"]*)?['"]\s*\)|\brequire\(\s*['"]kysely/;

test('no file outside src/queue/ and src/store/ imports kysely', () => {
  const files = sourceFiles(SRC);
  const offenders = files
    .map((f) => path.relative(SRC, f).split(path.sep).join('/'))
    .filter((rel) => !MAY_IMPORT_KYSELY.some((dir) => rel.startsWith(dir)))
    .filter((rel) => KYSELY.test(fs.readFileSync(path.join(SRC, rel), 'utf8')));
  assert.deepEqual(offenders, [], `these files import kysely; move their SQL into src/queue/ or src/store/: ${offenders.join(', ')}`);
  // The rule must see the files it guards: the queue itself imports kysely.
  assert.ok(files.some((f) => f.includes(`${path.sep}queue${path.sep}`) && KYSELY.test(fs.readFileSync(f, 'utf8'))));
});

test('the import rule recognises every form of a kysely import', () => {
  for (const line of [
    "import { sql } from 'kysely';",
    "import type { Kysely } from 'kysely';",
    "export { sql } from 'kysely';",
    "import 'kysely';",
    "const k = await import('kysely');",
    "import { x } from 'kysely/helpers/postgres';",
  ]) {
    assert.ok(KYSELY.test(line), line);
  }
  assert.ok(!KYSELY.test("import { x } from './kysely-free.js';"));
});
