import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as Mistral1 } from 'mistral1';
import { chatLines, startTestServer, type TestServer } from '../helpers/server.js';

const jsonlBytes = (lines: unknown[]) => new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

/** Every Batch call through the official SDK 2.x (API only: jobs stay QUEUED), and a subset through 1.15.x. */
describe('Batch API through the official SDK', () => {
  let server: TestServer;
  let client: Mistral;
  let b: Mistral;
  const upload = async (n: number, prefix: string) =>
    (await client.files.upload({ file: { fileName: `${prefix}.jsonl`, content: jsonlBytes(chatLines(n, prefix)) }, purpose: 'batch' })).id;
  before(async () => {
    server = await startTestServer({ worker: false });
    client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
    b = new Mistral({ apiKey: 'key-b', serverURL: server.url });
  });
  after(() => server.stop());

  test('create from several input files: QUEUED, counters at zero, total known', async () => {
    const ids = [await upload(3, 'f1'), await upload(4, 'f2')];
    const job = await client.batch.jobs.create({ inputFiles: ids, model: 'mistral-small-latest', endpoint: '/v1/chat/completions', metadata: { job_type: 'testing' }, timeoutHours: 48 });
    assert.equal(job.object, 'batch');
    assert.deepEqual(job.inputFiles, ids);
    assert.equal(job.status, 'QUEUED');
    assert.equal(job.model, 'mistral-small-latest');
    assert.equal(job.endpoint, '/v1/chat/completions');
    assert.deepEqual(job.metadata, { job_type: 'testing' });
    assert.deepEqual([job.totalRequests, job.completedRequests, job.succeededRequests, job.failedRequests], [7, 0, 0, 0]);
    assert.deepEqual(job.errors, []);
    assert.equal(job.outputFile, null);
    assert.equal(job.startedAt, null);
  });

  test('create with inline requests, get it, and get it with inline=true', async () => {
    const job = await client.batch.jobs.create({
      requests: [{ customId: '0', body: { input: 'a' } }, { body: { input: 'b' } }],
      model: 'mistral-embed',
      endpoint: '/v1/embeddings',
    });
    assert.deepEqual(job.inputFiles, []);
    assert.equal(job.totalRequests, 2);
    const got = await client.batch.jobs.get({ jobId: job.id });
    assert.equal(got.id, job.id);
    const inline = await client.batch.jobs.get({ jobId: job.id, inline: true });
    assert.deepEqual(inline.outputs, []);
  });

  test('list filters by status, model, agent id, metadata, creation time, creator, order and page', async () => {
    const f = await upload(1, 'lst');
    const mk = (extra: Record<string, unknown>) => client.batch.jobs.create({ inputFiles: [f], endpoint: '/v1/chat/completions', model: 'mistral-small-latest', ...extra });
    const j1 = await mk({ metadata: { team: 'red', run: '1' } });
    const j2 = await mk({ metadata: { team: 'blue', run: '1' }, model: 'mistral-large-latest' });
    const j3 = await mk({ agentId: 'agent-7', metadata: { team: 'red', run: '2' } });
    await client.batch.jobs.cancel({ jobId: j3.id });
    const ids = (r: { data?: { id: string }[] }) => (r.data ?? []).map((j) => j.id);
    const all = await client.batch.jobs.list();
    assert.equal(all.object, 'list');
    assert.equal(all.total, all.data!.length);
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { team: 'red' } })).sort(), [j1.id, j3.id].sort());
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { team: 'red', run: '2' } })), [j3.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ model: 'mistral-large-latest' })), [j2.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ agentId: 'agent-7' })), [j3.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ status: ['CANCELLATION_REQUESTED'] })), [j3.id]);
    assert.ok(ids(await client.batch.jobs.list({ status: ['QUEUED', 'CANCELLATION_REQUESTED'] })).includes(j3.id));
    const desc = ids(await client.batch.jobs.list({ metadata: { run: '1' } }));
    const asc = ids(await client.batch.jobs.list({ metadata: { run: '1' }, orderBy: 'created' }));
    assert.deepEqual(asc, [...desc].reverse());
    const page = await client.batch.jobs.list({ page: 1, pageSize: 1, metadata: { run: '1' } });
    assert.deepEqual(ids(page), [desc[1]]);
    assert.equal(page.total, 2);
    assert.deepEqual(ids(await client.batch.jobs.list({ createdAfter: new Date(Date.now() + 60_000) })), []);
    assert.ok(ids(await client.batch.jobs.list({ createdAfter: new Date(Date.now() - 60_000) })).includes(j1.id));
    assert.ok(ids(await client.batch.jobs.list({ createdByMe: true })).includes(j1.id));
    assert.deepEqual(ids(await b.batch.jobs.list({ createdByMe: true })), []);
    assert.deepEqual(ids(await b.batch.jobs.list()), [], 'another workspace sees none of them');
  });

  test('cancel moves a queued job to CANCELLATION_REQUESTED and is idempotent', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(2, 'c')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    const c1 = await client.batch.jobs.cancel({ jobId: job.id });
    assert.equal(c1.status, 'CANCELLATION_REQUESTED');
    const c2 = await client.batch.jobs.cancel({ jobId: job.id });
    assert.equal(c2.status, 'CANCELLATION_REQUESTED');
  });

  test('delete refuses an unfinished job and deletes a finished one', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(1, 'd')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    await assert.rejects(client.batch.jobs.delete({ jobId: job.id }), (e: { statusCode?: number; body?: string }) => e.statusCode === 409 && /cancel it/.test(e.body ?? ''));
    await server.ctx.db.kysely.updateTable('batch_jobs').set({ status: 'CANCELLED' }).where('id', '=', job.id).execute();
    const del = await client.batch.jobs.delete({ jobId: job.id });
    assert.deepEqual({ id: del.id, object: del.object, deleted: del.deleted }, { id: job.id, object: 'batch', deleted: true });
    await assert.rejects(client.batch.jobs.get({ jobId: job.id }), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('another workspace gets 404 for get, cancel and delete', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(1, 'iso')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    for (const call of [() => b.batch.jobs.get({ jobId: job.id }), () => b.batch.jobs.cancel({ jobId: job.id }), () => b.batch.jobs.delete({ jobId: job.id })]) {
      await assert.rejects(call(), (e: { statusCode?: number }) => e.statusCode === 404);
    }
    assert.equal((await client.batch.jobs.get({ jobId: job.id })).status, 'QUEUED', 'untouched');
  });

  test('SDK 1.15.x creates, gets, lists and cancels jobs (closed status enum, required model)', async () => {
    const old = new Mistral1({ apiKey: 'key-a', serverURL: server.url });
    const job = await old.batch.jobs.create({ inputFiles: [await upload(2, 'v1')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    assert.equal(job.status, 'QUEUED');
    assert.equal((await old.batch.jobs.get({ jobId: job.id })).totalRequests, 2);
    const list = await old.batch.jobs.list({ status: ['QUEUED'] });
    assert.ok(list.total >= 1);
    assert.equal((await old.batch.jobs.cancel({ jobId: job.id })).status, 'CANCELLATION_REQUESTED');
  });

  test('models.list offers the names Mistral\'s docs use', async () => {
    const models = await client.models.list();
    const ids = (models.data ?? []).map((m) => (m as { id: string; type: string }).type === 'base' ? (m as { id: string }).id : '');
    for (const id of ['mistral-small-latest', 'mistral-large-latest', 'codestral-latest', 'mistral-embed', 'mistral-moderation-latest', 'ministral-8b-latest']) assert.ok(ids.includes(id), id);
  });
});
