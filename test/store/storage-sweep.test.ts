import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { STORES, storeSuite } from '../helpers/stores.js';
import { okOutcome, seedInputFile, seedJob } from '../helpers/fixtures.js';
import { LocalBlobStore } from '../../src/blobs/local-blob-store.js';
import { markFileDeleted } from '../../src/store/files.js';
import { InputFileGone, type JobRow } from '../../src/queue/index.js';

/** Whether the store still has a blob's bytes. */
async function hasBytes(blobs: LocalBlobStore, key: string): Promise<boolean> {
  try {
    for await (const _ of blobs.read(key)) break;
    return true;
  } catch {
    return false;
  }
}

for (const name of STORES) {
  describe(`storage sweep on ${name}`, async () => {
    const s = await storeSuite(name);
    const { opts } = s;

    const inputOf = (job: JobRow) => (JSON.parse(job.input_files) as string[])[0]!;
    const fileRow = (id: string) => s.db.kysely.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const count = async (table: 'file_chunks' | 'job_results' | 'job_chunks' | 'released_blobs', col: 'file_id' | 'job_id' | null, id?: string) => {
      let q = s.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
      if (col) q = q.where(col, '=', id!);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };

    test('a deleted input keeps its bytes while a job reads it and gives them back when the job ends', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-keep', 20, { now });
      await s.queue.admit(1_000_000, now);
      const fileId = inputOf(job);
      const key = (await fileRow(fileId)).blob_key;
      assert.ok(await markFileDeleted(s.db.kysely, 'ws-keep', fileId, now));
      assert.equal(await s.queue.releaseFile(fileId, now), false, 'a running job still reads it');
      await s.queue.sweep(now);
      assert.ok(await hasBytes(s.blobs, key));
      assert.ok((await count('file_chunks', 'file_id', fileId)) > 0);

      await s.db.kysely.updateTable('batch_jobs').set({ status: 'SUCCESS', completed_at: now }).where('id', '=', job.id).execute();
      const report = await s.queue.sweep(now);
      assert.ok(report.releasedFiles >= 1);
      assert.equal(await hasBytes(s.blobs, key), false);
      assert.equal((await fileRow(fileId)).blob_key, '');
      assert.equal(await count('file_chunks', 'file_id', fileId), 0);
      assert.equal(await count('released_blobs', null), 0);
    });

    test('an unused deleted file is released at once; an expired one by the sweep; a live one never', opts, async () => {
      const now = Date.now();
      const gone = await seedInputFile(s.db, s.blobs, 'ws-files', 5);
      const live = await seedInputFile(s.db, s.blobs, 'ws-files', 5);
      const expiring = await seedInputFile(s.db, s.blobs, 'ws-files', 5);
      await s.db.kysely
        .updateTable('files')
        .set({ expires_at: now - 1 })
        .where('id', '=', expiring.id)
        .execute();
      await markFileDeleted(s.db.kysely, 'ws-files', gone.id, now);
      assert.equal(await s.queue.releaseFile(gone.id, now), true);
      assert.equal(await hasBytes(s.blobs, gone.blobKey), false);
      assert.equal(await s.queue.releaseFile(live.id, now), false);
      await s.queue.sweep(now);
      assert.equal(await hasBytes(s.blobs, expiring.blobKey), false);
      assert.ok(await hasBytes(s.blobs, live.blobKey));
      assert.equal((await fileRow(live.id)).blob_key, live.blobKey);
    });

    test('a job cannot be created over an input that was released meanwhile', opts, async () => {
      const now = Date.now();
      const file = await seedInputFile(s.db, s.blobs, 'ws-race', 5);
      await markFileDeleted(s.db.kysely, 'ws-race', file.id, now);
      await s.queue.releaseFile(file.id, now);
      const spec = {
        workspace: 'ws-race',
        createdBy: null,
        endpoint: '/v1/chat/completions',
        model: 'mistral-small-latest',
        agentId: null,
        metadata: null,
        timeoutHours: 24,
        inputFiles: [file.id],
        inputs: [{ fileId: file.id, blobKey: file.blobKey, lineOffset: 0, chunkOffset: 0 }],
        total: 5,
        idempotencyKey: null,
      };
      await assert.rejects(s.queue.create(spec, now), InputFileGone);
      assert.deepEqual(await s.db.kysely.selectFrom('batch_jobs').select('id').where('workspace', '=', 'ws-race').execute(), []);
    });

    test('a deleted job is purged: records, work items, metadata, result files and hidden inputs', opts, async () => {
      const now = Date.now();
      const job = await seedJob(s.db, s.blobs, 'ws-purge', 30, { now });
      await s.queue.admit(1_000_000, now);
      // Stand-in for an inline job: its input is a hidden file only this job reads.
      const fileId = inputOf(job);
      const key = (await fileRow(fileId)).blob_key;
      await s.db.kysely.updateTable('files').set({ hidden: 1 }).where('id', '=', fileId).execute();
      await s.db.kysely.insertInto('job_metadata').values({ job_id: job.id, key: 'k', value: 'v' }).execute();
      const c = await s.queue.claim('w', now);
      assert.ok(c && c.job_id === job.id);
      assert.ok(await s.queue.record({ job_id: job.id, chunk_no: c.chunk_no, token: c.token }, [0, 1, 2].map(okOutcome), now));
      await s.db.kysely.updateTable('batch_jobs').set({ status: 'CANCELLED', completed_at: now }).where('id', '=', job.id).execute();
      assert.ok(await s.queue.markDeleted('ws-purge', job.id, now));

      await s.queue.sweep(now);
      assert.equal(await count('job_results', 'job_id', job.id), 0);
      assert.equal(await count('job_chunks', 'job_id', job.id), 0);
      const meta = await s.db.kysely.selectFrom('job_metadata').select('key').where('job_id', '=', job.id).execute();
      assert.equal(meta.length, 0);
      assert.notEqual((await fileRow(fileId)).deleted_at, null);
      assert.equal(await hasBytes(s.blobs, key), false);
      const results = await s.db.kysely.selectFrom('files').select('deleted_at').where('job_id', '=', job.id).execute();
      assert.ok(results.every((r) => r.deleted_at !== null));
    });

    test('bytes whose deletion a crash interrupted are deleted by the next sweep', opts, async () => {
      const file = await seedInputFile(s.db, s.blobs, 'ws-crash', 3);
      // What a crash right after the releasing transaction leaves: a tombstone and the bytes.
      await s.db.kysely.updateTable('files').set({ blob_key: '', deleted_at: Date.now() }).where('id', '=', file.id).execute();
      await s.db.kysely.insertInto('released_blobs').values({ blob_key: file.blobKey, released_at: Date.now() }).execute();
      assert.ok(await hasBytes(s.blobs, file.blobKey));
      await s.queue.sweep(Date.now());
      assert.equal(await hasBytes(s.blobs, file.blobKey), false);
      assert.equal(await count('released_blobs', null), 0);
    });
  });
}
