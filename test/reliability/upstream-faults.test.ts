import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type Fault, type FakeUpstream } from '../helpers/fake-upstream.js';
import { chatLines, download, jsonl, startTestServer, upstreamModels, uploadJsonl, waitForJob, type TestServer } from '../helpers/server.js';

const LINES = 500;
/** Every kind of upstream failure, drawn at random for 20% of calls (seeded, so a failure reproduces). */
const FAULTS: Fault[] = [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 502 },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 429, retryAfter: 0 },
  { kind: 'reset' },
  { kind: 'hang' },
  { kind: 'truncated' },
  { kind: 'malformed' },
  { kind: 'drip', ms: 2 },
];

function seeded(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

let up: FakeUpstream;
let server: TestServer;
before(async () => {
  up = await startFakeUpstream({ latencyMs: 1 });
  server = await startTestServer({
    models: upstreamModels(up.url, { max_in_flight: 16 }),
    env: { BATCHD_UPSTREAM_TIMEOUT_MS: '300', BATCHD_RETRY_MAX_ATTEMPTS: '10' },
  });
});
after(async () => {
  await server.stop();
  await up.close();
});

test('with 20% of upstream calls failing in every way, the job completes and every line ends once with its real reason', async () => {
  const random = seeded(12345);
  const injected = new Map<string, number>();
  up.setFault((c) => {
    if (c.text.startsWith('final')) return { kind: 'status', status: 400, body: { object: 'error', message: 'rejected for good' } };
    if (random() >= 0.2) return null;
    const f = FAULTS[Math.floor(random() * FAULTS.length)]!;
    injected.set(f.kind === 'status' ? String(f.status) : f.kind, (injected.get(f.kind === 'status' ? String(f.status) : f.kind) ?? 0) + 1);
    return f;
  });
  const lines = chatLines(LINES, 'f', (i) => (i % 50 === 0 ? `final ${i}` : `hello ${i}`));
  const file = await uploadJsonl(server, lines);
  const created = await server.request('POST', '/v1/batch/jobs', {
    endpoint: '/v1/chat/completions',
    model: 'up-openai',
    input_files: [file.id],
    timeout_hours: 1,
  });
  const job = await waitForJob(server, created.body.id);
  assert.equal(job.status, 'SUCCESS');
  const output = jsonl(await download(server, job.output_file));
  const errors = jsonl(await download(server, job.error_file));
  assert.deepEqual([...output, ...errors].map((l) => l.custom_id).sort(), lines.map((l) => l.custom_id).sort());
  // The lines meant to fail fail with the upstream's own status and body; the rest got through their retries.
  assert.equal(errors.length, LINES / 50);
  for (const e of errors) {
    assert.equal(e.response.status_code, 400);
    assert.equal(e.response.body.message, 'rejected for good');
  }
  assert.equal(output.length, LINES - LINES / 50);
  assert.ok(output.every((l) => l.response.status_code === 200 && l.response.body.choices[0].message.content.startsWith('reply: ')));
  assert.ok(injected.size >= 8, `fault kinds injected: ${[...injected.keys()].join(', ')}`);
  assert.ok(up.calls.length > LINES, 'failed calls were retried');
});
