import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { Mistral as Mistral1 } from 'mistral1';
import { ManualClock } from '../../src/clock.js';
import { chatLines, jsonlBytes, sdkError, startTestServer, type TestServer } from '../helpers/server.js';

const HOUR = 3600_000;
const bytesOf = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());

/** Every Files call through the official SDK 2.x against a real socket, and a subset through 1.15.x. */
describe('Files API through the official SDK', () => {
  let server: TestServer;
  let clock: ManualClock;
  let client: Mistral;
  before(async () => {
    clock = new ManualClock();
    server = await startTestServer({ clock, worker: false });
    client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
  });
  after(() => server.stop());

  test('upload returns the file object with size, line count, sample type and source', async () => {
    const bytes = jsonlBytes(chatLines(3));
    const f = await client.files.upload({ file: { fileName: 'batch.jsonl', content: bytes }, purpose: 'batch' });
    assert.match(f.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(f.object, 'file');
    assert.equal(f.sizeBytes, bytes.length);
    assert.equal(f.numLines, 3);
    assert.equal(f.filename, 'batch.jsonl');
    assert.equal(f.purpose, 'batch');
    assert.equal(f.sampleType, 'batch_request');
    assert.equal(f.source, 'upload');
    assert.equal(f.mimetype, 'application/jsonl');
    assert.equal(f.visibility, 'workspace');
    assert.equal(f.expiresAt, null);
    assert.match(f.signature ?? '', /^[0-9a-f]{16}$/);
    assert.equal(f.createdAt, Math.floor(clock.now() / 1000));
  });

  test('upload accepts a File (its name becomes the filename) and a bare Blob (named "blob")', async () => {
    const bytes = jsonlBytes(chatLines(2, 'file'));
    const fromFile = await client.files.upload({ file: new File([bytes], 'named.jsonl'), purpose: 'batch' });
    assert.deepEqual([fromFile.filename, fromFile.numLines, fromFile.sizeBytes, fromFile.sampleType], ['named.jsonl', 2, bytes.length, 'batch_request']);
    const fromBlob = await client.files.upload({ file: new Blob([jsonlBytes(chatLines(4, 'blob'))]), purpose: 'batch' });
    assert.deepEqual([fromBlob.filename, fromBlob.numLines, fromBlob.mimetype], ['blob', 4, 'application/jsonl']);
  });

  test('upload with visibility and expiry reports them back', async () => {
    const f = await client.files.upload({
      file: { fileName: 'exp.jsonl', content: jsonlBytes(chatLines(1, 'exp')) },
      purpose: 'batch',
      visibility: 'user',
      expiry: 2,
    });
    assert.equal(f.visibility, 'user');
    assert.equal(f.expiresAt, Math.floor(clock.now() / 1000) + 2 * 3600);
    await client.files.delete({ fileId: f.id });
  });

  test('retrieve includes deleted:false and download streams back the exact bytes', async () => {
    const bytes = jsonlBytes(chatLines(5, 'dl'));
    const up = await client.files.upload({ file: { fileName: 'dl.jsonl', content: bytes }, purpose: 'batch' });
    const got = await client.files.retrieve({ fileId: up.id });
    assert.equal(got.deleted, false);
    assert.deepEqual(
      {
        id: got.id,
        sizeBytes: got.sizeBytes,
        numLines: got.numLines,
        filename: got.filename,
        sampleType: got.sampleType,
        source: got.source,
        purpose: got.purpose,
      },
      { id: up.id, sizeBytes: bytes.length, numLines: 5, filename: 'dl.jsonl', sampleType: 'batch_request', source: 'upload', purpose: 'batch' },
    );
    const stream = await client.files.download({ fileId: up.id });
    assert.ok(stream instanceof ReadableStream);
    assert.deepEqual(await bytesOf(stream), bytes);
  });

  test('list applies the defaults with no arguments and with {}, and honours every filter', async () => {
    await client.files.upload({ file: { fileName: 'needle-alpha.jsonl', content: jsonlBytes(chatLines(1, 'n')) }, purpose: 'batch' });
    await client.files.upload({ file: { fileName: 'notes.txt', content: new TextEncoder().encode('plain text\n') }, purpose: 'fine-tune' });
    const all = await client.files.list();
    assert.equal(all.object, 'list');
    assert.equal(all.total, all.data.length);
    assert.ok(all.total! >= 5);
    assert.ok(all.data.every((f) => f.source === 'upload' && typeof f.sizeBytes === 'number'));
    const empty = await client.files.list({});
    assert.deepEqual(
      empty.data.map((f) => f.id),
      all.data.map((f) => f.id),
    );
    const paged = await client.files.list({ page: 1, pageSize: 2, includeTotal: true });
    assert.deepEqual(
      paged.data.map((f) => f.id),
      all.data.slice(2, 4).map((f) => f.id),
    );
    assert.equal(paged.total, all.total);
    // include_total=false is accepted; the total is still sent (TS SDK 1.5.0 requires it).
    const noTotal = await client.files.list({ pageSize: 1, includeTotal: false });
    assert.equal(noTotal.data.length, 1);
    assert.equal(noTotal.total, all.total);
    assert.deepEqual(
      (await client.files.list({ search: 'needle' })).data.map((f) => f.filename),
      ['needle-alpha.jsonl'],
    );
    assert.deepEqual(
      (await client.files.list({ search: 'NEEDLE-A' })).data.map((f) => f.filename),
      ['needle-alpha.jsonl'],
      'search ignores case',
    );
    assert.deepEqual(
      (await client.files.list({ purpose: 'fine-tune' })).data.map((f) => f.filename),
      ['notes.txt'],
    );
    const requests = await client.files.list({ sampleType: ['batch_request'] });
    assert.equal(requests.total, all.total! - 1);
    assert.ok(requests.data.every((f) => f.sampleType === 'batch_request'));
    assert.equal((await client.files.list({ sampleType: ['batch_result', 'batch_error'] })).total, 0);
    assert.equal((await client.files.list({ sampleType: ['batch_request', 'instruct'] })).total, all.total);
    assert.equal((await client.files.list({ source: ['upload'] })).total, all.total);
    assert.equal((await client.files.list({ source: ['mistral', 'repository'] })).total, 0);
    assert.deepEqual(
      (await client.files.list({ mimetypes: ['text/plain'] })).data.map((f) => f.filename),
      ['notes.txt'],
    );
    assert.equal((await client.files.list({ mimetypes: ['text/plain', 'application/jsonl'] })).total, all.total);
  });

  test('delete answers deleted:true, and the file is gone from retrieve, download and list', async () => {
    const up = await client.files.upload({ file: { fileName: 'gone.jsonl', content: jsonlBytes(chatLines(1, 'g')) }, purpose: 'batch' });
    const del = await client.files.delete({ fileId: up.id });
    assert.deepEqual({ id: del.id, object: del.object, deleted: del.deleted }, { id: up.id, object: 'file', deleted: true });
    await assert.rejects(client.files.retrieve({ fileId: up.id }), sdkError(404));
    await assert.rejects(client.files.download({ fileId: up.id }), sdkError(404));
    await assert.rejects(client.files.delete({ fileId: up.id }), sdkError(404));
    assert.ok(!(await client.files.list()).data.some((f) => f.id === up.id));
  });

  test('a signed URL downloads without a key until it expires, and only its own file', async () => {
    const bytes = jsonlBytes(chatLines(2, 's'));
    const up = await client.files.upload({ file: { fileName: 's.jsonl', content: bytes }, purpose: 'batch' });
    const other = await client.files.upload({ file: { fileName: 'o.jsonl', content: jsonlBytes(chatLines(2, 'o')) }, purpose: 'batch' });
    const { url } = await client.files.getSignedUrl({ fileId: up.id, expiry: 1 });
    assert.ok(url.startsWith(server.url), url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    const rejected = async (u: string, code: string) => {
      const r = await fetch(u);
      assert.equal(r.status, 403, u);
      const body = (await r.json()) as { object: string; code: string };
      assert.deepEqual([body.object, body.code], ['error', code]);
    };
    await rejected(url.replace(up.id, other.id), 'invalid_signature');
    await rejected(url.replace(/signature=[0-9a-f]+/, `signature=${'0'.repeat(64)}`), 'invalid_signature');
    await rejected(url.replace(/workspace=a/, 'workspace=b'), 'invalid_signature');
    await rejected(
      url.replace(/expires=(\d+)/, (_, e: string) => `expires=${Number(e) + 3600}`),
      'invalid_signature',
    );
    clock.advance(HOUR + 1000);
    await rejected(url, 'signed_url_expired');
  });

  test('a signed URL without an expiry lasts the default 24 hours', async () => {
    const up = await client.files.upload({ file: { fileName: 'd.jsonl', content: jsonlBytes(chatLines(1, 'd')) }, purpose: 'batch' });
    const { url } = await client.files.getSignedUrl({ fileId: up.id });
    clock.advance(23 * HOUR);
    assert.equal((await fetch(url)).status, 200);
    clock.advance(HOUR + 1000);
    assert.equal((await fetch(url)).status, 403);
  });

  test("another workspace's key cannot see, download, sign or delete a file", async () => {
    const up = await client.files.upload({ file: { fileName: 'mine.jsonl', content: jsonlBytes(chatLines(1, 'm')) }, purpose: 'batch' });
    const b = new Mistral({ apiKey: server.keys.b, serverURL: server.url });
    await assert.rejects(b.files.retrieve({ fileId: up.id }), sdkError(404));
    await assert.rejects(b.files.download({ fileId: up.id }), sdkError(404));
    await assert.rejects(b.files.getSignedUrl({ fileId: up.id }), sdkError(404));
    await assert.rejects(b.files.delete({ fileId: up.id }), sdkError(404));
    assert.ok(!(await b.files.list()).data.some((f) => f.id === up.id));
    assert.equal((await client.files.retrieve({ fileId: up.id })).deleted, false, 'untouched');
  });

  test('SDK 1.15.x uploads, lists and retrieves files too', async () => {
    const old = new Mistral1({ apiKey: server.keys.a, serverURL: server.url });
    const up = await old.files.upload({ file: { fileName: 'old.jsonl', content: jsonlBytes(chatLines(2, 'old')) }, purpose: 'batch' });
    assert.deepEqual([up.numLines, up.sampleType, up.source, up.purpose], [2, 'batch_request', 'upload', 'batch']);
    const list = await old.files.list({ pageSize: 1 });
    assert.equal(list.data.length, 1);
    assert.equal(typeof list.total, 'number');
    const got = await old.files.retrieve({ fileId: up.id });
    assert.deepEqual([got.id, got.deleted, got.sizeBytes], [up.id, false, up.sizeBytes]);
  });
});
