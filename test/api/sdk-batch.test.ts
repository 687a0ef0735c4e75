import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as Mistral1 } from 'mistral1';
import { ManualClock } from '../../src/clock.js';
import { chatLines, jsonlBytes, sdkError, KEYS, startTestServer, type TestServer } from '../helpers/server.js';
import type { JobStatus } from '../../src/queue/states.js';

const ids = (r: { data?: { id: string }[] }) => (r.data ?? []).map((j) => j.id);

/** Every Batch call through the official SDK 2.x (API only: jobs stay QUEUED), and a subset through 1.15.x. */
describe('Batch API through the official SDK', () => {
  let server: TestServer;
  /** Moved a second between the jobs whose order matters, so creation times never tie. */
  let clock: ManualClock;
  let client: Mistral;
  /** A second key of workspace a: same jobs, different creator. */
  let colleague: Mistral;
  let b: Mistral;
  const upload = async (n: number, prefix: string) =>
    (await client.files.upload({ file: { fileName: `${prefix}.jsonl`, content: jsonlBytes(chatLines(n, prefix)) }, purpose: 'batch' })).id;
  const stored = (id: string) => server.ctx.db.kysely.selectFrom('batch_jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const setStatus = (id: string, status: JobStatus) => server.ctx.db.kysely.updateTable('batch_jobs').set({ status }).where('id', '=', id).execute();
  before(async () => {
    clock = new ManualClock();
    server = await startTestServer({ clock, worker: false, env: { BATCHD_API_KEYS: `a:${KEYS.a},b:${KEYS.b},a:key-a-colleague` } });
    client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
    colleague = new Mistral({ apiKey: 'key-a-colleague', serverURL: server.url });
    b = new Mistral({ apiKey: server.keys.b, serverURL: server.url });
  });
  after(() => server.stop());

  test('create from several input files: QUEUED, counters at zero, total known, metadata and timeout kept', async () => {
    const files = [await upload(3, 'f1'), await upload(4, 'f2'), await upload(1, 'f3')];
    const job = await client.batch.jobs.create({
      inputFiles: files,
      model: 'mistral-small-latest',
      endpoint: '/v1/chat/completions',
      metadata: { job_type: 'testing' },
      timeoutHours: 48,
    });
    assert.match(job.id, /^[0-9a-f-]{36}$/);
    assert.equal(job.object, 'batch');
    assert.deepEqual(job.inputFiles, files);
    assert.equal(job.status, 'QUEUED');
    assert.equal(job.model, 'mistral-small-latest');
    assert.equal(job.endpoint, '/v1/chat/completions');
    assert.deepEqual(job.metadata, { job_type: 'testing' });
    assert.deepEqual([job.totalRequests, job.completedRequests, job.succeededRequests, job.failedRequests], [8, 0, 0, 0]);
    assert.deepEqual(job.errors, []);
    assert.equal(job.outputFile, null);
    assert.equal(job.errorFile, null);
    assert.equal(job.startedAt, null);
    assert.equal(job.completedAt, null);
    assert.equal(typeof job.createdAt, 'number');
    const row = await stored(job.id);
    assert.equal(row.timeout_hours, 48);
    assert.equal(Number(row.deadline_at) - Number(row.created_at), 48 * 3600_000);
  });

  test('create without timeoutHours runs with the default 24 hours', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(1, 'tdef')], model: 'mistral-small-latest', endpoint: '/v1/chat/completions' });
    assert.equal((await stored(job.id)).timeout_hours, 24);
    assert.equal(job.metadata, null);
  });

  test('create with inline requests, get it, and get it with inline=true', async () => {
    const job = await client.batch.jobs.create({
      requests: [{ customId: '0', body: { input: 'a' } }, { body: { input: 'b' } }, { customId: 'x', body: { input: 'c' } }],
      model: 'mistral-embed',
      endpoint: '/v1/embeddings',
      timeoutHours: 2,
    });
    assert.deepEqual(job.inputFiles, []);
    assert.equal(job.status, 'QUEUED');
    assert.equal(job.endpoint, '/v1/embeddings');
    assert.equal(job.totalRequests, 3);
    assert.equal((await stored(job.id)).timeout_hours, 2);
    const got = await client.batch.jobs.get({ jobId: job.id });
    assert.deepEqual(
      { id: got.id, status: got.status, total: got.totalRequests, outputs: got.outputs },
      { id: job.id, status: 'QUEUED', total: 3, outputs: null },
    );
    const inline = await client.batch.jobs.get({ jobId: job.id, inline: true });
    assert.deepEqual(inline.outputs, [], 'nothing has run yet');
    // The inline requests are stored as a hidden file that no file listing shows.
    assert.ok(!(await client.files.list()).data.some((f) => f.filename === 'inline-requests.jsonl'));
  });

  test('list filters by status, model, agent id, metadata, creation time, creator, order and page', async () => {
    const f = await upload(1, 'lst');
    const mk = (extra: Record<string, unknown>, sdk = client) => {
      clock.advance(1000);
      return sdk.batch.jobs.create({ inputFiles: [f], endpoint: '/v1/chat/completions', model: 'mistral-small-latest', ...extra });
    };
    const j1 = await mk({ metadata: { team: 'red', run: '1' } });
    const j2 = await mk({ metadata: { team: 'blue', run: '1' }, model: 'mistral-large-latest' });
    const j3 = await mk({ agentId: 'agent-7', metadata: { team: 'red', run: '2' } }, colleague);
    await client.batch.jobs.cancel({ jobId: j3.id });
    const all = await client.batch.jobs.list();
    assert.equal(all.object, 'list');
    assert.equal(all.total, all.data!.length);
    assert.deepEqual(ids(await client.batch.jobs.list({})), ids(all));
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { team: 'red' } })), [j3.id, j1.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { team: 'red', run: '2' } })), [j3.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { team: 'green' } })), []);
    assert.deepEqual(ids(await client.batch.jobs.list({ model: 'mistral-large-latest' })), [j2.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ agentId: 'agent-7' })), [j3.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ status: ['CANCELLATION_REQUESTED'] })), [j3.id]);
    const either = ids(await client.batch.jobs.list({ status: ['QUEUED', 'CANCELLATION_REQUESTED'] }));
    assert.ok([j1.id, j2.id, j3.id].every((id) => either.includes(id)));
    assert.ok(!ids(await client.batch.jobs.list({ status: ['QUEUED'] })).includes(j3.id));
    assert.deepEqual(ids(await client.batch.jobs.list({ status: ['SUCCESS', 'FAILED'] })), []);
    const desc = ids(await client.batch.jobs.list({ metadata: { run: '1' } }));
    assert.deepEqual(desc, [j2.id, j1.id], 'newest first by default');
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { run: '1' }, orderBy: '-created' })), desc);
    assert.deepEqual(ids(await client.batch.jobs.list({ metadata: { run: '1' }, orderBy: 'created' })), [j1.id, j2.id]);
    const page = await client.batch.jobs.list({ page: 1, pageSize: 1, metadata: { run: '1' } });
    assert.deepEqual(ids(page), [j1.id]);
    assert.equal(page.total, 2);
    assert.deepEqual(ids(await client.batch.jobs.list({ page: 2, pageSize: 1, metadata: { run: '1' } })), []);
    const j1At = Number((await stored(j1.id)).created_at);
    assert.deepEqual(ids(await client.batch.jobs.list({ createdAfter: new Date(j1At + 500) })), [j3.id, j2.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ createdAfter: new Date(clock.now() + 1000) })), []);
    const mine = ids(await client.batch.jobs.list({ createdByMe: true, metadata: { team: 'red' } }));
    assert.deepEqual(mine, [j1.id], "the colleague's job is the workspace's but not mine");
    assert.deepEqual(ids(await colleague.batch.jobs.list({ createdByMe: true })), [j3.id]);
    assert.deepEqual(ids(await client.batch.jobs.list({ createdByMe: false, metadata: { team: 'red' } })), [j3.id, j1.id]);
    assert.deepEqual(ids(await b.batch.jobs.list()), [], 'another workspace sees none of them');
  });

  test('cancel moves a queued job to CANCELLATION_REQUESTED and a repeat is harmless', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(2, 'c')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    const c1 = await client.batch.jobs.cancel({ jobId: job.id });
    assert.deepEqual([c1.id, c1.status, c1.totalRequests], [job.id, 'CANCELLATION_REQUESTED', 2]);
    const c2 = await client.batch.jobs.cancel({ jobId: job.id });
    assert.equal(c2.status, 'CANCELLATION_REQUESTED');
    assert.equal((await client.batch.jobs.get({ jobId: job.id })).status, 'CANCELLATION_REQUESTED');
  });

  test('cancel of a finished job returns it unchanged', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(1, 'cf')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    await setStatus(job.id, 'SUCCESS');
    assert.equal((await client.batch.jobs.cancel({ jobId: job.id })).status, 'SUCCESS');
  });

  test('delete refuses an unfinished job and deletes a job in each terminal state', async () => {
    const f = await upload(1, 'd');
    const job = await client.batch.jobs.create({ inputFiles: [f], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    await assert.rejects(client.batch.jobs.delete({ jobId: job.id }), sdkError(409, /cancel it/));
    await client.batch.jobs.cancel({ jobId: job.id });
    await assert.rejects(client.batch.jobs.delete({ jobId: job.id }), sdkError(409), 'CANCELLATION_REQUESTED is not finished either');
    assert.equal((await client.batch.jobs.get({ jobId: job.id })).status, 'CANCELLATION_REQUESTED', 'the refused delete changed nothing');
    for (const status of ['CANCELLED', 'SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED'] as const) {
      const j =
        status === 'CANCELLED' ? job : await client.batch.jobs.create({ inputFiles: [f], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
      await setStatus(j.id, status);
      const del = await client.batch.jobs.delete({ jobId: j.id });
      assert.deepEqual({ id: del.id, object: del.object, deleted: del.deleted }, { id: j.id, object: 'batch', deleted: true }, status);
      await assert.rejects(client.batch.jobs.get({ jobId: j.id }), sdkError(404));
      await assert.rejects(client.batch.jobs.delete({ jobId: j.id }), sdkError(404), 'a second delete finds nothing');
      assert.ok(!ids(await client.batch.jobs.list()).includes(j.id));
    }
  });

  test('another workspace gets 404 for get, cancel and delete', async () => {
    const job = await client.batch.jobs.create({ inputFiles: [await upload(1, 'iso')], endpoint: '/v1/chat/completions', model: 'mistral-small-latest' });
    for (const call of [
      () => b.batch.jobs.get({ jobId: job.id }),
      () => b.batch.jobs.cancel({ jobId: job.id }),
      () => b.batch.jobs.delete({ jobId: job.id }),
    ]) {
      await assert.rejects(call(), sdkError(404, /batch_job_not_found/));
    }
    assert.equal((await client.batch.jobs.get({ jobId: job.id })).status, 'QUEUED', 'untouched');
  });

  test('SDK 1.15.x creates, gets, lists and cancels jobs (closed status enum, required model)', async () => {
    const old = new Mistral1({ apiKey: server.keys.a, serverURL: server.url });
    const job = await old.batch.jobs.create({
      inputFiles: [await upload(2, 'v1')],
      endpoint: '/v1/chat/completions',
      model: 'mistral-small-latest',
      metadata: { v: '1' },
    });
    assert.deepEqual([job.status, job.model, job.totalRequests, job.object], ['QUEUED', 'mistral-small-latest', 2, 'batch']);
    const got = await old.batch.jobs.get({ jobId: job.id });
    assert.deepEqual([got.id, got.totalRequests, got.status], [job.id, 2, 'QUEUED']);
    // The whole list parses: every job in it (queued, cancelling, finished) has one of the 7 statuses.
    const list = await old.batch.jobs.list({ pageSize: 1000 });
    assert.equal(list.total, list.data!.length);
    assert.ok(list.data!.some((j) => j.status === 'CANCELLATION_REQUESTED'));
    assert.ok(list.data!.some((j) => j.status === 'SUCCESS'));
    assert.deepEqual(ids(await old.batch.jobs.list({ status: ['QUEUED'], metadata: { v: '1' } })), [job.id]);
    assert.equal((await old.batch.jobs.cancel({ jobId: job.id })).status, 'CANCELLATION_REQUESTED');
  });

  test("models.list offers the names Mistral's docs use", async () => {
    const models = await client.models.list();
    assert.equal(models.object, 'list');
    const names = (models.data ?? []).map((m) => ('id' in m ? m.id : undefined));
    for (const id of ['mistral-small-latest', 'mistral-large-latest', 'codestral-latest', 'mistral-embed', 'mistral-moderation-latest', 'ministral-8b-latest'])
      assert.ok(names.includes(id), id);
  });
});
