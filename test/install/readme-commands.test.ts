import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The first line of each ```sh block of the README's "Two commands" section. */
function twoCommands(): string[] {
  const section = /^## Two commands\n([\s\S]*?)^## /m.exec(readme)?.[1];
  assert.ok(section, 'README has a "Two commands" section');
  return [...section.matchAll(/```sh\n([^\n]+)\n/g)].map((m) => m[1]!.trim());
}

test("the README installs with npm ci (the committed lock, as is), and .ci/run runs exactly the README's test command", () => {
  const commands = twoCommands();
  assert.equal(commands[0], 'npm ci && npm run demo');
  assert.ok(commands.includes('npm ci && npm test'), commands.join(' | '));
  const ci = fs
    .readFileSync(path.join(root, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('set ') && !l.startsWith('cd '));
  assert.deepEqual(ci, ['npm ci && npm test']);
  assert.ok(
    !fs.existsSync(path.join(root, '.npmrc')) || !/omit\s*=\s*optional/.test(fs.readFileSync(path.join(root, '.npmrc'), 'utf8')),
    'no .npmrc dropping optional builds',
  );
});
