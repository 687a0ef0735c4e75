import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { answeredRequests, closedRequests, CLOSED_LINE_MESSAGES, type JobObject } from '../../src/api/objects.js';
import { cancelledOutcome, expiredOutcome } from '../../src/results/render.js';
import { chatLines, download, jsonl, startTestServer, upstreamModels, uploadJsonl, waitFor, waitForJob, type TestServer } from '../helpers/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

/**
 * The dashboard's throughput counts lines an engine answered, not lines a cancel or a timeout
 * closed (api/objects.ts answeredRequests): it tells them apart by the close's error messages,
 * which the dashboard cannot import from results/render.ts (Node code), so a copy is held equal here.
 */
test("the closed-line messages are the close's own", () => {
  assert.deepEqual(CLOSED_LINE_MESSAGES, [cancelledOutcome(0, null).error!.message, expiredOutcome(0, null).error!.message]);
});

let up: FakeUpstream;
let server: TestServer;
before(async () => {
  // Slow lines (two at a time), so the job is cancelled with most of them not yet run.
  up = await startFakeUpstream({ latencyMs: 100 });
  server = await startTestServer({ models: upstreamModels(up.url, { max_in_flight: 2 }), env: { BATCHD_CHUNK_LINES: '4' } });
});
after(async () => {
  await server?.stop();
  await up?.close();
});

test("a cancelled job's answered lines are those with a record of their own, not the cancel's", { timeout: 60_000 }, async () => {
  // One line fails on its own (an upstream 400): answered, and failed.
  up.setBehaviour({ latencyMs: 100, rules: [{ marker: 'BOOM', fault: { kind: 'status', status: 400 } }] });
  const file = await uploadJsonl(
    server,
    chatLines(200, 'c', (i) => (i === 0 ? 'BOOM' : `hello ${i}`)),
  );
  const created = await server.request('POST', '/v1/batch/jobs', { input_files: [file.id], model: 'up-openai', endpoint: '/v1/chat/completions' });
  assert.equal(created.status, 200);
  const id = (created.body as JobObject).id;
  await waitFor('a few lines answered', async () => {
    const { body } = await server.request('GET', `/v1/batch/jobs/${id}`);
    return (body as JobObject).completed_requests >= 4 ? true : undefined;
  });
  await server.request('POST', `/v1/batch/jobs/${id}/cancel`);
  const job = (await waitForJob(server, id)) as JobObject;
  assert.equal(job.status, 'CANCELLED');
  assert.equal(job.completed_requests, 200, 'every line has a record once the job is cancelled');

  const outputs = jsonl(await download(server, job.output_file!));
  const errors = jsonl(await download(server, job.error_file!));
  const cancelled = errors.filter((l) => l.error?.code === 'batch_cancelled').length;
  assert.ok(cancelled > 0, 'the cancel closed lines that had not run');
  assert.ok(
    errors.some((l) => l.response?.status_code === 400),
    'the line that failed on its own is among the errors',
  );
  assert.equal(closedRequests(job), cancelled);
  assert.equal(answeredRequests(job), outputs.length + errors.length - cancelled);
  assert.equal(answeredRequests(job), job.succeeded_requests + job.failed_requests - cancelled);
});
