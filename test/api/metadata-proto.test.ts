import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, upstreamModels, uploadJsonl, waitForJob, chatLines, type TestServer } from '../helpers/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

/**
 * `__proto__` (and other Object.prototype names) are ordinary keys to a client: Mistral's
 * server is Python and keeps them as data. A JS object literal would swallow them, so the
 * bodies here are JSON text, and answers are read with JSON.parse (own properties).
 */
async function send(server: TestServer, method: string, url: string, json?: string) {
  const res = await fetch(`${server.url}${url}`, {
    method,
    headers: { ...server.auth(), ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: json,
  });
  return { status: res.status, body: JSON.parse(await res.text()) };
}

const own = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

describe('__proto__ and other prototype names in job metadata', () => {
  let server: TestServer;
  let file: string;
  const ids: Record<string, string> = {};

  const create = async (metadataJson: string) => {
    const res = await send(
      server,
      'POST',
      '/v1/batch/jobs',
      `{"input_files":["${file}"],"model":"mistral-small-latest","endpoint":"/v1/chat/completions","metadata":${metadataJson}}`,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };
  const list = async (query: string) => {
    const res = await send(server, 'GET', `/v1/batch/jobs?${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.data.map((j: { id: string }) => j.id).sort();
  };

  before(async () => {
    server = await startTestServer({ worker: false });
    file = (await uploadJsonl(server, chatLines(2))).id;
    ids.proto = (await create('{"__proto__":"x","team":"red"}')).id;
    ids.plain = (await create('{"team":"red"}')).id;
    ids.names = (await create('{"constructor":"c","toString":"t","hasOwnProperty":"h"}')).id;
  });
  after(() => server?.stop());

  test('a __proto__ key is kept as data, in the create answer and when read back', async () => {
    const job = (await send(server, 'GET', `/v1/batch/jobs/${ids.proto}`)).body;
    assert.ok(own(job.metadata, '__proto__'), JSON.stringify(job.metadata));
    assert.equal(job.metadata.__proto__, 'x');
    assert.equal(job.metadata.team, 'red');
    assert.deepEqual(Object.keys(job.metadata).sort(), ['__proto__', 'team']);
    const names = (await send(server, 'GET', `/v1/batch/jobs/${ids.names}`)).body.metadata;
    assert.deepEqual(Object.entries(names).sort(), [
      ['constructor', 'c'],
      ['hasOwnProperty', 'h'],
      ['toString', 't'],
    ]);
  });

  test('a __proto__ filter matches only the jobs that have that key and value, never every job', async () => {
    assert.deepEqual(await list('__proto__=x'), [ids.proto]);
    assert.deepEqual(await list('__proto__=y'), []);
    assert.deepEqual(await list(`metadata=${encodeURIComponent('{"__proto__":"x"}')}`), [ids.proto]);
    assert.deepEqual(await list(`metadata=${encodeURIComponent('{"__proto__":"nope"}')}`), []);
    assert.deepEqual(await list('__proto__=x&team=red'), [ids.proto]);
    assert.deepEqual(await list('team=red'), [ids.plain, ids.proto].sort());
    assert.deepEqual(await list('constructor=c'), [ids.names]);
    assert.deepEqual(await list('toString=zzz'), []);
  });

  test('metadata with a __proto__ key is still validated like any other key', async () => {
    const res = await send(
      server,
      'POST',
      '/v1/batch/jobs',
      `{"input_files":["${file}"],"model":"mistral-small-latest","endpoint":"/v1/chat/completions","metadata":{"__proto__":{"a":"b"}}}`,
    );
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.code, 'validation_error');
    assert.match(res.body.message, /metadata\.__proto__: metadata values must be strings/);
  });
});

describe('__proto__ keys in inline requests', () => {
  let up: FakeUpstream;
  let server: TestServer;
  before(async () => {
    up = await startFakeUpstream();
    server = await startTestServer({ models: upstreamModels(up.url) });
  });
  after(async () => {
    await server?.stop();
    await up?.close();
  });

  test('a request body keeps its __proto__ key on the way to the model server', async () => {
    const res = await send(
      server,
      'POST',
      '/v1/batch/jobs',
      '{"model":"up-mistral","endpoint":"/v1/chat/completions","requests":[{"custom_id":"p","body":{"messages":[{"role":"user","content":"hi"}],"__proto__":{"polluted":true}}}]}',
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const job = await waitForJob(server, res.body.id);
    assert.equal(job.status, 'SUCCESS', JSON.stringify(job));
    const call = up.calls.find((c) => c.text.includes('hi'));
    assert.ok(call && own(call.body, '__proto__'), JSON.stringify(call?.body));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
