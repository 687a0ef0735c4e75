import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, uploadJsonl, waitForJob, type TestServer } from '../helpers/server.js';
import { batchCost } from '../../src/models/registry.js';

const MODEL = 'mistral-small-latest';

/** Chat lines of different lengths, one with a system prompt, one asking for two choices. */
const lines = [
  { custom_id: 'a', body: { max_tokens: 3, messages: [{ role: 'user', content: 'What is the best French cheese?' }] } },
  {
    custom_id: 'b',
    body: {
      max_tokens: 4,
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'Name a river.' },
      ],
    },
  },
  { custom_id: 'c', body: { max_tokens: 2, n: 2, messages: [{ role: 'user', content: 'x'.repeat(300) }] } },
  { custom_id: 'd', body: { max_tokens: 5, messages: [{ role: 'user', content: 'Bonjour, comment allez-vous ? 你好' }] } },
];

/** Estimates on the embedded engine (the generated tiny model): tokens counted by its own tokenizer. */
describe('job estimates', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  test('an estimate of a file matches the prompt tokens the job then reports, and creates nothing', async () => {
    const file = await uploadJsonl(server, lines);
    const body = { endpoint: '/v1/chat/completions', model: MODEL, input_files: [file.id] };
    const estimate = await server.request('POST', '/v1/batch/jobs/estimate', body);
    assert.equal(estimate.status, 200, JSON.stringify(estimate.body));
    const e = estimate.body;
    assert.equal(e.object, 'batch.estimate');
    assert.equal(e.total_requests, 4);
    assert.equal(e.prompt_tokens_exact, true);
    assert.equal(e.approximated_requests, 0);
    assert.equal(e.max_completion_tokens, 3 + 4 + 2 * 2 + 5);
    assert.ok(e.prompt_tokens > 4);
    // The cost range at the registry's price with the batch discount (Mistral's batch API: 50% off).
    assert.equal(e.batch_discount, 0.5);
    const registry = server.ctx.registry;
    assert.equal(e.cost_usd.min, Math.round(batchCost(registry, MODEL, e.prompt_tokens, 0)! * 1e6) / 1e6);
    assert.equal(e.cost_usd.max, Math.round(batchCost(registry, MODEL, e.prompt_tokens, e.max_completion_tokens)! * 1e6) / 1e6);
    assert.ok(e.cost_usd.max > e.cost_usd.min);
    // dry_run on the create route answers the same, and neither created a job.
    const dry = await server.request('POST', '/v1/batch/jobs', { ...body, dry_run: true });
    assert.deepEqual(dry.body, e);
    assert.equal((await server.request('GET', '/v1/batch/jobs')).body.total, 0);
    // The job itself: the same prompt tokens, and completions within the bound.
    const job = (await server.request('POST', '/v1/batch/jobs', body)).body;
    const done = await waitForJob(server, job.id);
    assert.equal(done.status, 'SUCCESS');
    assert.equal(done.usage.prompt_tokens, e.prompt_tokens);
    assert.ok(done.usage.completion_tokens <= e.max_completion_tokens);
  });

  test('inline requests are estimated without leaving their staged input behind; bad input is refused as a create would', async () => {
    const inline = await server.request('POST', '/v1/batch/jobs/estimate', { endpoint: '/v1/chat/completions', model: MODEL, requests: lines });
    assert.equal(inline.status, 200);
    assert.equal(inline.body.total_requests, 4);
    const files = await server.ctx.db.kysely.selectFrom('files').select('id').where('hidden', '=', 1).execute();
    const jobs = await server.ctx.db.kysely.selectFrom('batch_jobs').select('input_files').execute();
    assert.equal(files.length, jobs.filter((j) => j.input_files === '[]').length, 'no hidden input without its job');
    const unknown = await server.request('POST', '/v1/batch/jobs/estimate', { endpoint: '/v1/chat/completions', model: 'no-such-model', requests: lines });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.code, 'model_not_found');
    const bad = { endpoint: '/v1/chat/completions', model: MODEL, requests: [{ body: 'x' }] };
    const dry = await server.request('POST', '/v1/batch/jobs', { ...bad, dry_run: true });
    const real = await server.request('POST', '/v1/batch/jobs', bad);
    assert.equal(real.status, 422);
    assert.deepEqual([dry.status, dry.body], [real.status, real.body]);
  });
});
