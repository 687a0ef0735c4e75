import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import { sdkError, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * examples/src/file.jsonl of the official TS SDK, byte for byte: three fine-tuning
 * conversations (no custom_id, no body) and no newline after the last line.
 */
const SDK_FILE_JSONL = [
  `{"messages": [{"role": "system", "content": "Marv is a factual chatbot that is also sarcastic."}, {"role": "user", "content": "What's the capital of France?"}, {"role": "assistant", "content": "Paris, as if everyone doesn't know that already."}]}`,
  `{"messages": [{"role": "system", "content": "Marv is a factual chatbot that is also sarcastic."}, {"role": "user", "content": "Who wrote 'Romeo and Juliet'?"}, {"role": "assistant", "content": "Oh, just some guy named William Shakespeare. Ever heard of him?"}]}`,
  `{"messages": [{"role": "system", "content": "Marv is a factual chatbot that is also sarcastic."}, {"role": "user", "content": "How far is the Moon from Earth?"}, {"role": "assistant", "content": "Around 384,400 kilometers. Give or take a few, like that really matters.", "weight": 0}]}`,
].join('\n');

/** An upload without `purpose` is a fine-tune file, as on Mistral; only batch files must hold batch lines. */
describe('upload without purpose (the SDK example async_files.ts)', () => {
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    server = await startTestServer({ worker: false });
    client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
  });
  after(() => server.stop());

  test("async_files.ts's sequence: a bare Blob with no purpose is stored as fine-tune, listed, retrieved and deleted", async () => {
    // Exactly what the example does: a Blob of file.jsonl typed application/json, no purpose.
    const blob = new Blob([SDK_FILE_JSONL], { type: 'application/json' });
    const createdFile = await client.files.upload({ file: blob });
    assert.deepEqual(
      [createdFile.purpose, createdFile.numLines, createdFile.sampleType, createdFile.source, createdFile.filename, createdFile.sizeBytes],
      ['fine-tune', 3, 'instruct', 'upload', 'blob', Buffer.byteLength(SDK_FILE_JSONL)],
    );

    const files = await client.files.list();
    const listed = files.data.find((f) => f.id === createdFile.id);
    assert.ok(listed, 'the new file is listed');
    assert.deepEqual([listed.purpose, listed.numLines], ['fine-tune', 3]);

    const retrievedFile = await client.files.retrieve({ fileId: createdFile.id });
    assert.deepEqual([retrievedFile.purpose, retrievedFile.numLines, retrievedFile.deleted], ['fine-tune', 3, false]);

    const deletedFile = await client.files.delete({ fileId: createdFile.id });
    assert.deepEqual([deletedFile.id, deletedFile.deleted], [createdFile.id, true]);
    await assert.rejects(client.files.retrieve({ fileId: createdFile.id }), sdkError(404));
  });

  test('a batch job from a file uploaded without purpose gets 400 invalid_input_file naming the file and its purpose', async () => {
    const file = await client.files.upload({ file: new Blob([SDK_FILE_JSONL], { type: 'application/json' }) });
    await assert.rejects(
      client.batch.jobs.create({ inputFiles: [file.id], model: 'mistral-small-latest', endpoint: '/v1/chat/completions' }),
      sdkError(400, new RegExp(`file '${file.id}' has purpose 'fine-tune', not 'batch'.*"code":"invalid_input_file"`)),
    );
    const raw = await server.request('POST', '/v1/batch/jobs', { input_files: [file.id], model: 'mistral-small-latest', endpoint: '/v1/chat/completions' });
    assert.equal(raw.status, 400);
    assert.deepEqual([raw.body.object, raw.body.type, raw.body.code, raw.body.param], ['error', 'invalid_request_error', 'invalid_input_file', 'input_files']);
    assert.equal((await client.batch.jobs.list()).total, 0, 'no job was created');
  });

  test('explicit purposes: fine-tune and ocr skip batch-line validation, batch still validates each line', async () => {
    const notBatch = 'not json at all\n{"messages": []}\n\n';
    for (const purpose of ['fine-tune', 'ocr'] as const) {
      const f = await client.files.upload({ file: { fileName: `x-${purpose}.jsonl`, content: new TextEncoder().encode(notBatch) }, purpose });
      assert.deepEqual([f.purpose, f.numLines, f.sampleType], [purpose, 2, 'instruct'], purpose);
    }
    await assert.rejects(
      client.files.upload({ file: { fileName: 'x.jsonl', content: new TextEncoder().encode(notBatch) }, purpose: 'batch' }),
      sdkError(400, /line 1: is not valid JSON.*"code":"invalid_batch_file"/),
    );
    await assert.rejects(
      client.files.upload({ file: { fileName: 'ft.jsonl', content: new TextEncoder().encode(SDK_FILE_JSONL) }, purpose: 'batch' }),
      sdkError(400, /line 1: has no \\"body\\"/),
    );
  });
});
