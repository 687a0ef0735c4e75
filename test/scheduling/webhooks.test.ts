import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Mistral } from '@mistralai/mistralai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { killHard, startChildServer, type ChildServer } from '../helpers/child-process.js';
import { chatLines, KEYS, startTestServer, upstreamModels, waitFor, waitForJob, type TestServer } from '../helpers/server.js';
import { makeStore, STORES, storeTestOptions, type TestStore } from '../helpers/stores.js';

interface Delivery {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A real HTTP receiver on 127.0.0.1 that records every delivery and answers what `answer` says. */
async function startReceiver(answer: (path: string, nth: number) => number = () => 200) {
  const deliveries: Delivery[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const nth = deliveries.filter((d) => d.path === req.url).length + 1;
      const status = answer(req.url!, nth);
      deliveries.push({ path: req.url!, headers: req.headers, body, answered: status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, deliveries, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The README's verification, written out independently of batchd's own signer. */
function verified(secret: string, d: Delivery): boolean {
  const header = String(d.headers['batchd-signature'] ?? '');
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2)));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${d.body}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) && Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
}

const WEBHOOK_ENV = { BATCHD_ALLOW_PRIVATE_WEBHOOKS: '1', BATCHD_WEBHOOK_POLL_MS: '50', BATCHD_WEBHOOK_RETRY_BASE_MS: '200' };

for (const store of STORES) {
  describe(`webhooks on ${store}`, await storeTestOptions(store), () => {
    let up: FakeUpstream;
    let server: TestServer;
    let pg: TestStore | null = null;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      up = await startFakeUpstream({ latencyMs: 5 });
      up.setBehaviour({ rules: [{ marker: 'BAD', fault: { kind: 'status', status: 400 } }] });
      pg = store === 'postgres' ? await makeStore('postgres') : null;
      server = await startTestServer({ models: upstreamModels(up.url), database: pg?.url, env: WEBHOOK_ENV });
      // /flaky fails its first two deliveries.
      receiver = await startReceiver((p, nth) => (p === '/flaky' && nth <= 2 ? 500 : 200));
    });
    after(async () => {
      await server?.stop();
      await up?.close();
      await receiver?.close();
      await pg?.cleanup();
    });

    test('one verified delivery per terminal job (SUCCESS, FAILED, CANCELLED), none for a job without a webhook', async () => {
      const secret = (await server.request('GET', '/v1/webhooks/secret')).body.secret as string;
      assert.match(secret, /^[0-9a-f]{64}$/);
      const make = (lines: unknown[], extra: Record<string, unknown>) =>
        server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: lines, ...extra });
      const ok = (await make(chatLines(3, 's'), { webhook_url: `${receiver.url}/hooks` })).body;
      // Through the Mistral SDK, which sends no unknown body field: the webhook as metadata.
      const sdk = new Mistral({ apiKey: KEYS.a, serverURL: server.url });
      const bad = await sdk.batch.jobs.create({
        requests: chatLines(2, 'b', () => 'BAD'),
        model: 'up-openai',
        endpoint: '/v1/chat/completions',
        metadata: { webhook_url: `${receiver.url}/hooks` },
      });
      const none = (await make(chatLines(2, 'n'), {})).body;
      // Paused before it can run, then cancelled.
      const cancelled = (await make(chatLines(2, 'c'), { webhook_url: `${receiver.url}/hooks` })).body;
      await server.request('POST', `/v1/batch/jobs/${cancelled.id}/pause`);
      await server.request('POST', `/v1/batch/jobs/${cancelled.id}/cancel`);
      const ended = { [ok.id]: 'SUCCESS', [bad.id]: 'FAILED', [cancelled.id]: 'CANCELLED' };
      for (const [id, status] of Object.entries(ended)) assert.equal((await waitForJob(server, id)).status, status);
      await waitForJob(server, none.id);
      await waitFor('three deliveries', async () => (receiver.deliveries.filter((d) => d.path === '/hooks').length >= 3 ? true : undefined));
      // Time for a duplicate to show up, if there were one.
      await new Promise((r) => setTimeout(r, 600));
      const got = receiver.deliveries.filter((d) => d.path === '/hooks');
      assert.equal(got.length, 3);
      for (const d of got) {
        assert.ok(verified(secret, d), 'signature verifies');
        const job = JSON.parse(d.body);
        assert.equal(job.object, 'batch');
        assert.equal(job.status, ended[job.id], `job ${job.id} announced as ${job.status}`);
        assert.equal(d.headers['batchd-event'], `batch.${job.status.toLowerCase()}`);
        assert.equal(d.headers['content-type'], 'application/json');
      }
      assert.deepEqual(new Set(got.map((d) => JSON.parse(d.body).id)), new Set(Object.keys(ended)));
      assert.equal(new Set(got.map((d) => d.headers['batchd-delivery'])).size, 3);
      // A wrong secret does not verify.
      assert.equal(verified('0'.repeat(64), got[0]!), false);
    });

    test('a receiver that fails twice gets the event on the third attempt, same delivery id, each attempt signed', async () => {
      const secret = (await server.request('GET', '/v1/webhooks/secret')).body.secret as string;
      const job = (
        await server.request('POST', '/v1/batch/jobs', {
          endpoint: '/v1/chat/completions',
          model: 'up-openai',
          requests: chatLines(2, 'f'),
          webhook_url: `${receiver.url}/flaky`,
        })
      ).body;
      await waitForJob(server, job.id);
      await waitFor('a successful delivery', async () => (receiver.deliveries.some((d) => d.path === '/flaky' && d.answered === 200) ? true : undefined));
      const got = receiver.deliveries.filter((d) => d.path === '/flaky');
      assert.deepEqual(
        got.map((d) => d.answered),
        [500, 500, 200],
      );
      assert.equal(new Set(got.map((d) => d.headers['batchd-delivery'])).size, 1);
      for (const d of got) assert.ok(verified(secret, d));
      // The receiver has answered 200; batchd records the delivery just after.
      const event = await waitFor('the delivery recorded', async () => {
        const [e] = await server.ctx.queue.webhookEvents(job.id);
        return e?.delivered_at ? e : undefined;
      });
      assert.equal(event.attempts, 3);
    });

    test('a webhook_url batchd may not call is refused at create, naming the field', async () => {
      const res = await server.request('POST', '/v1/batch/jobs', {
        endpoint: '/v1/chat/completions',
        model: 'up-openai',
        requests: chatLines(1, 'x'),
        metadata: { webhook_url: 'ftp://example.com/x' },
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'invalid_webhook_url');
      assert.equal(res.body.param, 'metadata.webhook_url');
      const prio = await server.request('POST', '/v1/batch/jobs', {
        endpoint: '/v1/chat/completions',
        model: 'up-openai',
        requests: chatLines(1, 'x'),
        metadata: { priority: 'urgent' },
      });
      assert.equal(prio.status, 400);
      assert.equal(prio.body.code, 'invalid_priority');
    });
  });
}

describe('webhook delivery survives kill -9 of batchd between the job end and the delivery', () => {
  let dir: string;
  let child: ChildServer | null = null;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let healthy = false;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-webhook-crash-'));
    fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: [{ id: 'echo-model', engine: 'echo' }] }));
    receiver = await startReceiver(() => (healthy ? 200 : 500));
  });
  after(async () => {
    if (child) await killHard(child.proc);
    await receiver?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async () =>
    (child = await startChildServer(['serve', '--port', '0', '--data-dir', path.join(dir, 'data'), '--config', path.join(dir, 'models.json')], {
      BATCHD_FROM_SOURCE: '1',
      BATCHD_API_KEYS: `a:${KEYS.a}`,
      BATCHD_TICK_MS: '50',
      BATCHD_POLL_MS: '50',
      BATCHD_VALIDATION_THREADS: '0',
      BATCHD_WEBHOOK_LEASE_MS: '1000',
      ...WEBHOOK_ENV,
      BATCHD_WEBHOOK_RETRY_BASE_MS: '300',
    }));

  test('the receiver fails twice, batchd is killed during the second attempt, the restarted batchd delivers', async () => {
    await start();
    const call = async (method: string, url: string, body?: unknown) =>
      (
        await fetch(`${child!.url}${url}`, {
          method,
          headers: { authorization: `Bearer ${KEYS.a}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json() as Promise<Record<string, any>>;
    const secret = (await call('GET', '/v1/webhooks/secret')).secret as string;
    const job = await call('POST', '/v1/batch/jobs', {
      endpoint: '/v1/chat/completions',
      model: 'echo-model',
      requests: chatLines(2, 'k'),
      webhook_url: `${receiver.url}/crash`,
    });
    assert.ok(job.id, JSON.stringify(job));
    await waitFor('the second (failing) attempt', async () => (receiver.deliveries.length >= 2 ? true : undefined));
    await killHard(child!.proc);
    child = null;
    healthy = true;
    await start();
    await waitFor('a successful delivery after the restart', async () => (receiver.deliveries.some((d) => d.answered === 200) ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const ok = receiver.deliveries.filter((d) => d.answered === 200);
    assert.equal(ok.length, 1, 'delivered once it succeeded');
    assert.ok(verified(secret, ok[0]!));
    const delivered = JSON.parse(ok[0]!.body);
    assert.equal(delivered.id, job.id);
    assert.equal(delivered.status, 'SUCCESS');
    assert.equal(new Set(receiver.deliveries.map((d) => d.headers['batchd-delivery'])).size, 1, 'one event, however many attempts');
  });
});
