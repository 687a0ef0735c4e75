import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, upstreamModels, uploadJsonl, chatLines, waitFor, type TestServer } from '../helpers/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import type { ModelLoadObject } from '../../src/api/objects.js';

let server: TestServer;
let up: FakeUpstream;

before(async () => {
  // Slow answers, a few at a time, so the job is seen moving: several events, not just the last.
  up = await startFakeUpstream({ latencyMs: 150, maxConcurrent: 2 });
  server = await startTestServer({ models: upstreamModels(up.url, { max_in_flight: 2 }), env: { BATCHD_CHUNK_LINES: '2' } });
});
after(async () => {
  await server?.stop();
  await up?.close();
});

async function createJob(lines: number, ws: 'a' | 'b' = 'a') {
  const file = await uploadJsonl(server, chatLines(lines), ws);
  const { status, body } = await server.request('POST', '/v1/batch/jobs', { input_files: [file.id], model: 'up-openai', endpoint: '/v1/chat/completions' }, ws);
  assert.equal(status, 200, JSON.stringify(body));
  return body as { id: string };
}

/** Reads a whole event stream: every `event:`/`data:` block and every comment, in order. */
async function readEvents(res: Response) {
  const events: { event: string; data: any }[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (block.startsWith(':')) continue;
      const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]));
      events.push({ event: fields.event ?? '', data: JSON.parse(fields.data ?? 'null') });
    }
  }
  assert.equal(buf, '', 'the stream ends on a complete event');
  return events;
}

test('events stream the job as GET shows it, on each change, and end after the terminal event', async () => {
  const job = await createJob(16);
  const res = await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth() });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = await readEvents(res);

  assert.ok(events.length >= 3, `several events while the job runs, got ${events.length}`);
  assert.ok(events.every((e) => e.event === 'job' && e.data.id === job.id && e.data.object === 'batch'));
  const last = events.at(-1)!.data;
  assert.equal(last.status, 'SUCCESS');
  assert.equal(last.completed_requests, 16);
  assert.ok(
    events.slice(0, -1).every((e) => e.data.status !== 'SUCCESS'),
    'only the last event is terminal',
  );
  // Sent only on change: no two consecutive events alike, and the counter never goes back.
  for (let i = 1; i < events.length; i++) {
    assert.notDeepEqual(events[i]!.data, events[i - 1]!.data);
    assert.ok(events[i]!.data.completed_requests >= events[i - 1]!.data.completed_requests);
  }
  // The last event is exactly the job object GET answers.
  const { body } = await server.request('GET', `/v1/batch/jobs/${job.id}`);
  assert.deepEqual(last, body);
});

test('a finished job gets one event and the stream ends at once', async () => {
  const job = await createJob(1);
  const first = await readEvents(await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth() }));
  assert.equal(first.at(-1)!.data.status, 'SUCCESS');
  const again = await readEvents(await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth() }));
  assert.equal(again.length, 1);
  assert.deepEqual(again[0]!.data, first.at(-1)!.data);
});

test("another workspace's job, an unknown id and a missing key get the API's JSON errors", async () => {
  const job = await createJob(1, 'b');
  const other = await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth('a') });
  assert.equal(other.status, 404);
  assert.equal(((await other.json()) as { code: string }).code, 'batch_job_not_found');
  const get = await server.request('GET', `/v1/batch/jobs/${job.id}`, undefined, 'a');
  assert.equal(get.status, 404, 'the same answer as GET');
  const unknown = await fetch(`${server.url}/v1/batch/jobs/00000000-0000-4000-8000-000000000000/events`, { headers: server.auth() });
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const anonymous = await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`);
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
});

test('a client that leaves mid-job stops its stream: the job is no longer read for it', async () => {
  // Long enough (≥ 15 s at 2 calls of 150 ms) to still be running when it is cancelled below.
  const job = await createJob(200);
  // Count the stream's reads of this job (GET is not called meanwhile).
  const queue = server.ctx.queue;
  const get = queue.get.bind(queue);
  let reads = 0;
  queue.get = async (ws, id) => (id === job.id && reads++, get(ws, id));
  try {
    const ac = new AbortController();
    const res = await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth(), signal: ac.signal });
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /^event: job\ndata: \{/);
    await new Promise((r) => setTimeout(r, 1200));
    assert.ok(reads >= 2, `the stream polls while open (${reads} reads)`);
    ac.abort();
    await reader.closed.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 700));
    const afterLeave = reads;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(reads, afterLeave, 'no more reads once the client has gone');
  } finally {
    queue.get = get;
  }
  await server.request('POST', `/v1/batch/jobs/${job.id}/cancel`);
  const events = await readEvents(await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth() }));
  assert.equal(events.at(-1)!.data.status, 'CANCELLED');
});

test("the dashboard's model load shows a workspace its own running lines only", async () => {
  const job = await createJob(60, 'b');
  await waitFor('the job to run', async () => {
    const { body } = await server.request('GET', `/v1/batch/jobs/${job.id}`, undefined, 'b');
    return body.status === 'RUNNING' && body.completed_requests > 0 ? body : undefined;
  });
  const row = async (ws: 'a' | 'b') => {
    const { status, body } = await server.request('GET', '/v1/dashboard/models', undefined, ws);
    assert.equal(status, 200);
    return (body.data as ModelLoadObject[]).find((m) => m.id === 'up-openai')!;
  };
  const b = await row('b');
  assert.equal(b.engine, 'openai');
  assert.equal(b.backend, `OpenAI-compatible · ${new URL(up.url).origin} (served)`);
  assert.equal(b.running_jobs, 1);
  assert.ok(b.lines_leased + b.waiting > 0 && b.lines_leased + b.waiting <= 60, JSON.stringify(b));
  assert.ok(b.lines_leased <= 4 * 2, `at most the lines of the worker's 4 leased chunks of 2 lines: ${b.lines_leased}`);
  const a = await row('a');
  assert.deepEqual([a.lines_leased, a.waiting, a.running_jobs], [0, 0, 0]);
  await server.request('POST', `/v1/batch/jobs/${job.id}/cancel`, undefined, 'b');
});

// Last: it stops the server.
test('the server closes promptly with a stream still open, ending it', async () => {
  const job = await createJob(200);
  const res = await fetch(`${server.url}/v1/batch/jobs/${job.id}/events`, { headers: server.auth() });
  const reading = readEvents(res);
  const started = Date.now();
  await server.stop();
  const events = await reading;
  assert.ok(Date.now() - started < 10_000, `stop took ${Date.now() - started} ms`);
  assert.ok(events.length >= 1);
  assert.notEqual(events.at(-1)!.data.status, 'SUCCESS');
});
