import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listeningUrl } from '../helpers/child-process.js';

/**
 * The package as a user gets it: `npm pack`, then `npm install ./batchd-*.tgz` in another
 * folder and `npx batchd serve` there. The tarball holds the compiled code (dist/, built by
 * `npm test` before the tests run) and the dashboard, never the tests or the TypeScript
 * sources; installed, it serves the API and the dashboard and runs a batch on the embedded
 * default, with nothing from this checkout on its module path.
 */
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir: string;
let tarball: string;
let proc: ChildProcess | null = null;

before(() => {
  assert.ok(fs.existsSync(path.join(root, 'dist', 'cli', 'main.js')), 'dist/ has no build: run npm run build (npm test does) first');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-tarball-'));
  // --ignore-scripts: `prepare` would build again what npm test has just built.
  const pack = spawnSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(dir, info!.filename);
  fs.writeFileSync(path.join(dir, 'files.json'), JSON.stringify(info!.files.map((f) => f.path)));
});

after(async () => {
  // npm exec's child (the server) goes with its process group.
  if (proc?.pid && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    process.kill(-proc.pid, 'SIGTERM');
    await exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the tarball ships the compiled server and dashboard, not the tests or sources', () => {
  const files = JSON.parse(fs.readFileSync(path.join(dir, 'files.json'), 'utf8')) as string[];
  for (const needed of ['package.json', 'bin/batchd.js', 'dist/cli/main.js', 'dist/server.js', 'dist/web/ui/index.html'])
    assert.ok(files.includes(needed), `${needed} is in the tarball`);
  const stray = files.filter((f) => /^(test|bench|src|web|scripts)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  assert.deepEqual(stray, [], 'no tests, benchmarks or sources');
});

test('installed from its tarball in another folder, `npx batchd serve` serves the API and the dashboard and runs a batch', { timeout: 900_000 }, async () => {
  const app = path.join(dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'tarball-user', version: '1.0.0', private: true }));
  // From npm's cache where it can (the suite's own `npm ci` filled it): the registry is still asked when it must be.
  const install = spawnSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app, encoding: 'utf8', timeout: 840_000 });
  assert.equal(install.status, 0, `npm install of the tarball failed:\n${install.stderr}`);
  assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'batchd', 'test')), 'no tests installed');

  proc = spawn(npm, ['exec', '--', 'batchd', 'serve', '--port', '0', '--data-dir', path.join(app, 'data')], {
    cwd: app,
    env: { ...process.env, BATCHD_FROM_SOURCE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const url = await listeningUrl(proc);
  const key = fs.readFileSync(path.join(app, 'data', 'default-api-key'), 'utf8').trim();
  const auth = { authorization: `Bearer ${key}` };

  assert.equal((await fetch(`${url}/health`)).status, 200);
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>batchd<\/title>/);

  const requests = ['one', 'two'].map((w) => ({ custom_id: w, body: { messages: [{ role: 'user', content: w }], max_tokens: 4 } }));
  const created = await fetch(`${url}/v1/batch/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mistral-small-latest', endpoint: '/v1/chat/completions', requests }),
  });
  assert.equal(created.status, 200, await created.clone().text());
  const { id } = (await created.json()) as { id: string };
  let job: { status: string; succeeded_requests: number } = { status: 'QUEUED', succeeded_requests: 0 };
  for (let i = 0; i < 600 && !['SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED'].includes(job.status); i++) {
    await new Promise((r) => setTimeout(r, 200));
    job = (await (await fetch(`${url}/v1/batch/jobs/${id}`, { headers: auth })).json()) as typeof job;
  }
  assert.equal(job.status, 'SUCCESS');
  assert.equal(job.succeeded_requests, 2);
});
