import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPgSchema, postgresTestOptions } from '../helpers/stores.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, startTestServer, upstreamModels, uploadJsonl, waitForJob, type TestServer } from '../helpers/server.js';

const opts = await postgresTestOptions();

describe('PostgreSQL outage', opts, () => {
  let schema: { url: string; drop(): Promise<void> };
  let proxy: TcpProxy;
  let up: FakeUpstream;
  let server: TestServer;
  before(async () => {
    schema = await createPgSchema();
    const target = new URL(schema.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    up = await startFakeUpstream();
    server = await startTestServer({ database: target.toString(), models: upstreamModels(up.url) });
  });
  after(async () => {
    proxy?.up();
    await server?.stop();
    await up?.close();
    await proxy?.close();
    await schema?.drop();
  });

  test('while the database is down requests get 503 store_unavailable; once it is back everything works and nothing was lost', async () => {
    const before = await uploadJsonl(server, chatLines(50, 'pre'));
    proxy.down();
    for (const [method, url] of [
      ['GET', '/v1/batch/jobs'],
      ['GET', `/v1/files/${before.id}`],
      ['POST', '/v1/batch/jobs'],
    ] as const) {
      const body = method === 'POST' ? { input_files: [before.id], model: 'up-openai', endpoint: '/v1/chat/completions' } : undefined;
      const res = await server.request(method, url, body);
      assert.equal(res.status, 503, `${method} ${url}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'store_unavailable');
      assert.match(res.body.message, /database is unreachable/);
    }
    proxy.up();
    // The pool reconnects on demand: the first requests after the outage succeed.
    const file = await server.request('GET', `/v1/files/${before.id}`);
    assert.equal(file.status, 200);
    assert.equal(file.body.num_lines, 50);
    const created = await server.request('POST', '/v1/batch/jobs', { input_files: [before.id], model: 'up-openai', endpoint: '/v1/chat/completions' });
    assert.equal(created.status, 200);
    const job = await waitForJob(server, created.body.id);
    assert.equal(job.status, 'SUCCESS');
    assert.equal(job.succeeded_requests, 50);
    // The create refused during the outage left no job behind.
    const list = await server.request('GET', '/v1/batch/jobs');
    assert.equal(list.body.total, 1);
  });
});
