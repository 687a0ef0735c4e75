import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listeningUrl, stopProcess } from '../helpers/child-process.js';

/**
 * The compiled server runs where tsx is not installed (`npm ci --omit=dev`, a container
 * image): dist/ and bin/batchd.js copied beside a node_modules holding every package but
 * tsx, then `batchd serve` started, and the paths that load code on worker threads (the
 * upload validator, the tokenizer for large texts) exercised. dist/ is what `npm test`
 * builds before the tests run.
 */
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// BATCHD_TEST_DIST: a build elsewhere (tsc --outDir), to check one without touching the tree's dist/.
const dist = process.env.BATCHD_TEST_DIST ?? path.join(root, 'dist');
const KEY = 'install-test-key-0123456789abcdef0123';
let dir: string;
let proc: ChildProcess | null = null;
let url = '';

before(async () => {
  assert.ok(fs.existsSync(path.join(dist, 'cli', 'main.js')), `${dist} has no build: run npm run build (npm test does) first`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-no-tsx-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(path.join(root, 'bin', 'batchd.js'), path.join(dir, 'bin', 'batchd.js'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  fs.cpSync(dist, path.join(dir, 'dist'), { recursive: true });
  // Every installed package but tsx, linked (a copy of node_modules would be a gigabyte).
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  for (const name of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (name === 'tsx' || name.startsWith('.')) continue;
    fs.symlinkSync(path.join(root, 'node_modules', name), path.join(modules, name));
  }
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', "import.meta.resolve('tsx/esm/api')"], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(probe.status, 0, 'tsx must not be resolvable from the copy');

  proc = spawn(process.execPath, [path.join(dir, 'bin', 'batchd.js'), 'serve', '--port', '0', '--data-dir', path.join(dir, 'data')], {
    cwd: dir,
    env: { ...process.env, BATCHD_API_KEYS: `ws:${KEY}`, BATCHD_VALIDATION_THREADS: '1', BATCHD_LLAMA_SEQUENCES: '2', BATCHD_LLAMA_CONTEXT: '8192' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = await listeningUrl(proc);
});

after(async () => {
  if (proc) await stopProcess(proc);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${KEY}` };

describe('dist/ runs without tsx', () => {
  test('an upload is validated on the worker thread of the compiled validator', async () => {
    const form = new FormData();
    form.append('purpose', 'batch');
    const line = JSON.stringify({ custom_id: '0', body: { messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 } });
    form.append('file', new Blob([`${line}\n`]), 'requests.jsonl');
    const res = await fetch(`${url}/v1/files`, { method: 'POST', headers: auth, body: form });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { purpose: string }).purpose, 'batch');
  });

  test('a chat request with a large text is tokenized on the compiled tokenizer thread and answered', async () => {
    const content = 'the river and the mountain near the old city '.repeat(300);
    assert.ok(content.length > 8 * 1024, 'above the size tokenized off the event loop');
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mistral-small-latest', messages: [{ role: 'user', content }], max_tokens: 4, temperature: 0 }),
    });
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.ok(body.usage.prompt_tokens > 1000);
    assert.equal(body.usage.completion_tokens, 4);
  });

  test('GET /health reports the backend the compiled engine loaded', async () => {
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string; engines: { llama: { backend: string | null; models: unknown[] } } };
    assert.equal(health.status, 'ok');
    assert.ok(health.engines.llama.backend !== null, JSON.stringify(health));
    assert.equal(health.engines.llama.models.length, 1);
  });
});
