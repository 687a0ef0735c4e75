import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { registerDashboard } from '../../src/web/static.js';

test('/ says how to build the dashboard when it is not built', async () => {
  const app = Fastify();
  registerDashboard(app, path.join(os.tmpdir(), 'batchd-no-such-dashboard'));
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 503);
  assert.match(res.body, /not built\. Run `npm run build`/);
  await app.close();
});

test('a built dashboard is served with its assets, and nothing outside them', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-dashboard-'));
  try {
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/app-1.js"></script>');
    fs.writeFileSync(path.join(dir, 'assets', 'app-1.js'), 'console.log(1)');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'no');
    const app = Fastify();
    registerDashboard(app, dir);
    const index = await app.inject({ method: 'GET', url: '/' });
    assert.equal(index.statusCode, 200);
    assert.match(index.headers['content-type'] as string, /^text\/html/);
    assert.match(index.headers['content-security-policy'] as string, /script-src 'self'/);
    assert.equal(index.headers['cache-control'], 'no-cache');
    const js = await app.inject({ method: 'GET', url: '/assets/app-1.js' });
    assert.equal(js.statusCode, 200);
    assert.equal(js.body, 'console.log(1)');
    assert.match(js.headers['content-type'] as string, /^text\/javascript/);
    assert.match(js.headers['cache-control'] as string, /immutable/);
    for (const url of ['/assets/..%2Fsecret.txt', '/assets/..%2Findex.html', '/assets/missing.js', '/assets/.hidden.js']) {
      assert.equal((await app.inject({ method: 'GET', url })).statusCode, 404, url);
    }
    await app.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
