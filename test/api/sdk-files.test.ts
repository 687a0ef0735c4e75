import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as Mistral1 } from 'mistral1';
import { ManualClock } from '../../src/clock.js';
import { chatLines, startTestServer, type TestServer } from '../helpers/server.js';

const jsonlBytes = (lines: unknown[]) => new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

/** Every Files call through the official SDK 2.x against a real socket, and a subset through 1.15.x. */
describe('Files API through the official SDK', () => {
  let server: TestServer;
  let clock: ManualClock;
  let client: Mistral;
  before(async () => {
    clock = new ManualClock();
    server = await startTestServer({ clock });
    client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
  });
  after(() => server.stop());

  test('upload returns the file object with size, line count, sample type and source', async () => {
    const bytes = jsonlBytes(chatLines(3));
    const f = await client.files.upload({ file: { fileName: 'batch.jsonl', content: bytes }, purpose: 'batch' });
    assert.match(f.id, /^[0-9a-f-]{36}$/);
    assert.equal(f.object, 'file');
    assert.equal(f.sizeBytes, bytes.length);
    assert.equal(f.numLines, 3);
    assert.equal(f.filename, 'batch.jsonl');
    assert.equal(f.purpose, 'batch');
    assert.equal(f.sampleType, 'batch_request');
    assert.equal(f.source, 'upload');
    assert.equal(f.mimetype, 'application/jsonl');
    assert.match(f.signature ?? '', /^[0-9a-f]{16}$/);
    assert.ok(Math.abs(f.createdAt - Math.floor(clock.now() / 1000)) <= 1);
  });

  test('retrieve includes deleted:false and download returns the exact bytes', async () => {
    const bytes = jsonlBytes(chatLines(5, 'dl'));
    const up = await client.files.upload({ file: { fileName: 'dl.jsonl', content: bytes }, purpose: 'batch' });
    const got = await client.files.retrieve({ fileId: up.id });
    assert.equal(got.deleted, false);
    assert.equal(got.sizeBytes, bytes.length);
    const stream = await client.files.download({ fileId: up.id });
    assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), bytes);
  });

  test('list applies defaults with no arguments, and every filter', async () => {
    await client.files.upload({ file: { fileName: 'needle-alpha.jsonl', content: jsonlBytes(chatLines(1, 'n')) }, purpose: 'batch' });
    await client.files.upload({ file: { fileName: 'notes.txt', content: new TextEncoder().encode('plain text\n') }, purpose: 'fine-tune' });
    const all = await client.files.list();
    assert.equal(all.object, 'list');
    assert.equal(all.total, all.data.length);
    assert.ok(all.total! >= 4);
    const empty = await client.files.list({});
    assert.equal(empty.total, all.total);
    const paged = await client.files.list({ page: 1, pageSize: 2, includeTotal: true });
    assert.equal(paged.data.length, 2);
    assert.equal(paged.total, all.total);
    assert.deepEqual(paged.data.map((f) => f.id), all.data.slice(2, 4).map((f) => f.id));
    assert.deepEqual((await client.files.list({ search: 'needle' })).data.map((f) => f.filename), ['needle-alpha.jsonl']);
    assert.ok((await client.files.list({ purpose: 'fine-tune' })).data.every((f) => f.purpose === 'fine-tune'));
    assert.ok((await client.files.list({ sampleType: ['batch_request'] })).data.every((f) => f.sampleType === 'batch_request'));
    assert.equal((await client.files.list({ sampleType: ['batch_result', 'batch_error'] })).total, 0);
    assert.equal((await client.files.list({ source: ['upload'] })).total, all.total);
    assert.deepEqual((await client.files.list({ mimetypes: ['text/plain'] })).data.map((f) => f.filename), ['notes.txt']);
  });

  test('delete answers deleted:true and the file is gone', async () => {
    const up = await client.files.upload({ file: { fileName: 'gone.jsonl', content: jsonlBytes(chatLines(1, 'g')) }, purpose: 'batch' });
    const del = await client.files.delete({ fileId: up.id });
    assert.deepEqual({ id: del.id, object: del.object, deleted: del.deleted }, { id: up.id, object: 'file', deleted: true });
    await assert.rejects(client.files.retrieve({ fileId: up.id }), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('a signed URL downloads without a key until it expires, and only its own file', async () => {
    const bytes = jsonlBytes(chatLines(2, 's'));
    const up = await client.files.upload({ file: { fileName: 's.jsonl', content: bytes }, purpose: 'batch' });
    const other = await client.files.upload({ file: { fileName: 'o.jsonl', content: jsonlBytes(chatLines(2, 'o')) }, purpose: 'batch' });
    const { url } = await client.files.getSignedUrl({ fileId: up.id, expiry: 1 });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    const tampered = await fetch(url.replace(up.id, other.id));
    assert.equal(tampered.status, 403);
    const forged = await fetch(url.replace(/signature=[0-9a-f]+/, 'signature=' + '0'.repeat(64)));
    assert.equal(forged.status, 403);
    clock.advance(3600_000 + 1000);
    const expired = await fetch(url);
    assert.equal(expired.status, 403);
    assert.equal(((await expired.json()) as { code: string }).code, 'signed_url_expired');
  });

  test('SDK 1.15.x uploads, lists and retrieves files too', async () => {
    const old = new Mistral1({ apiKey: 'key-a', serverURL: server.url });
    const up = await old.files.upload({ file: { fileName: 'old.jsonl', content: jsonlBytes(chatLines(2, 'old')) }, purpose: 'batch' });
    assert.equal(up.numLines, 2);
    const list = await old.files.list({ pageSize: 1 });
    assert.equal(list.data.length, 1);
    assert.ok(typeof list.total === 'number');
    const got = await old.files.retrieve({ fileId: up.id });
    assert.equal(got.deleted, false);
  });
});
