import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../src/clock.js';
import { FailureThrottle } from '../../src/net/failure-throttle.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { stopProcess } from '../helpers/child-process.js';
import { tempDir } from '../helpers/tmp.js';

/** GET /v1/files with one key on a fresh connection from `from` (any 127.x address is this host). */
function getFiles(url: string, key: string, from = '127.0.0.1') {
  return new Promise<{ status: number; retryAfter: string | undefined; body: any }>((resolve, reject) => {
    http
      .get(`${url}/v1/files`, { headers: { authorization: `Bearer ${key}` }, localAddress: from, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

describe('failed authentications are throttled per client address (default limit)', () => {
  let server: TestServer;
  const clock = new ManualClock();
  before(async () => {
    server = await startTestServer({ worker: false, clock });
  });
  after(() => server.stop());

  test('wrong keys get 429 with Retry-After beyond 30 a minute; keys that worked keep working; other addresses are untouched', async () => {
    assert.equal((await getFiles(server.url, server.keys.a)).status, 200, 'key a works from 127.0.0.1 before the attack');
    for (let i = 0; i < 30; i++) assert.equal((await getFiles(server.url, `wrong-${i}`)).status, 401, `guess ${i} is checked`);
    const limited = await getFiles(server.url, 'wrong-30');
    assert.equal(limited.status, 429);
    assert.equal(limited.retryAfter, '2', '30 a minute: one more guess every 2 s');
    assert.deepEqual(
      { object: limited.body.object, type: limited.body.type, code: limited.body.code },
      { object: 'error', type: 'rate_limited', code: 'too_many_auth_failures' },
    );
    // A key already used from this address keeps working; a key never seen from it is not even checked.
    assert.equal((await getFiles(server.url, server.keys.a)).status, 200);
    assert.equal((await getFiles(server.url, server.keys.b)).status, 429, 'an unknown key from a throttled address is not checked: no oracle');
    // Another address: its own limit, its own keys.
    assert.equal((await getFiles(server.url, server.keys.b, '127.0.0.2')).status, 200);
    assert.equal((await getFiles(server.url, 'wrong-elsewhere', '127.0.0.2')).status, 401);
    // Retry-After is honest: after it, exactly one more guess is checked.
    clock.advance(2000);
    assert.equal((await getFiles(server.url, 'wrong-31')).status, 401);
    assert.equal((await getFiles(server.url, 'wrong-32')).status, 429);
  });

  test('concurrent guesses are held to the limit too', async () => {
    const from = '127.0.0.3';
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => getFiles(server.url, `burst-${i}`, from)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 30, 'exactly 30 guesses checked');
    assert.equal(statuses.filter((s) => s === 429).length, 70);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  });
});

describe('the throttle keeps bounded memory', () => {
  test('100,000 failing addresses never hold more than the cap; idle ones expire; an IPv6 /64 is one client', () => {
    const clock = new ManualClock();
    const throttle = new FailureThrottle({ perMinute: 5, now: () => clock.now(), maxAddresses: 1000, maxTrusted: 100 });
    for (let i = 0; i < 100_000; i++) {
      const attempt = throttle.begin(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'guess');
      assert.notEqual(typeof attempt, 'number');
      if (typeof attempt !== 'number') attempt.failed();
      if (i % 7 === 0 && typeof attempt !== 'number') {
        const ok = throttle.begin(`10.9.${(i >> 8) & 255}.${i & 255}`, `key-${i}`);
        if (typeof ok !== 'number') ok.succeeded();
      }
      assert.ok(throttle.size.addresses <= 1000 && throttle.size.trusted <= 100, `sizes ${JSON.stringify(throttle.size)} at ${i}`);
    }
    // Addresses of one /64 share a bucket: the fifth guess from any of them is the last.
    for (let i = 0; i < 5; i++) {
      const a = throttle.begin(`2001:db8:1:2::${i + 1}`, 'guess');
      assert.notEqual(typeof a, 'number');
      if (typeof a !== 'number') a.failed();
    }
    assert.equal(typeof throttle.begin('2001:db8:1:2:ffff::9', 'guess'), 'number');
    assert.notEqual(typeof throttle.begin('2001:db8:1:3::1', 'guess'), 'number', 'another /64 is another client');
    // A minute later every bucket has refilled and is dropped at the next activity.
    clock.advance(61_000);
    const next = throttle.begin('192.0.2.1', 'guess');
    if (typeof next !== 'number') next.failed();
    assert.equal(throttle.size.addresses, 1);
  });
});

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'batchd.js');

/** `batchd serve` as a child: everything it wrote to stdout and stderr until it listened, then stopped. */
async function serveOnce(dataDir: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--no-worker', '--data-dir', dataDir], {
    env: { ...process.env, BATCHD_FROM_SOURCE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      stdout += d;
      if (/batchd listening on /.test(stdout)) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`batchd exited with ${code}: ${stderr}`)));
  });
  await stopProcess(proc);
  return { stdout, stderr };
}

describe('start-up output about keys (batchd serve as a child process)', () => {
  test('the generated default key is printed at the first start only; later starts print where it is kept', async (t) => {
    const dataDir = path.join(tempDir(t), 'data');
    const first = await serveOnce(dataDir, { BATCHD_API_KEYS: '' });
    const key = fs.readFileSync(path.join(dataDir, 'default-api-key'), 'utf8').trim();
    assert.ok(first.stdout.includes(key), `first start prints the key: ${first.stdout}`);
    const second = await serveOnce(dataDir, { BATCHD_API_KEYS: '' });
    assert.ok(!second.stdout.includes(key) && !second.stderr.includes(key), 'a later start does not print the key');
    assert.ok(second.stdout.includes(path.join(dataDir, 'default-api-key')), `a later start names the key file: ${second.stdout}`);
  });

  test('seeded keys shorter than 32 characters get one warning on stderr naming their workspaces', async (t) => {
    const dataDir = path.join(tempDir(t), 'data');
    const long = 'x'.repeat(32);
    const { stdout, stderr } = await serveOnce(dataDir, { BATCHD_API_KEYS: `short1:zq7Kp,ok:${long},short2:0123456789` });
    const warnings = stderr.split('\n').filter((l) => /shorter than 32 characters/.test(l));
    assert.equal(warnings.length, 1, stderr);
    assert.match(warnings[0]!, /'short1', 'short2'/);
    assert.ok(!warnings[0]!.includes("'ok'"));
    assert.ok(!stdout.includes('shorter than'), 'the warning goes to stderr');
    assert.ok(!stderr.includes('zq7Kp') && !stderr.includes('0123456789'), 'the keys themselves are not printed');
    const quiet = await serveOnce(path.join(tempDir(t), 'data2'), { BATCHD_API_KEYS: `ok:${long}` });
    assert.ok(!quiet.stderr.includes('shorter than'), 'no warning for long keys');
  });
});
