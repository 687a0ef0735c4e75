import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Mistral } from '@mistralai/mistralai';
import { loadConfig } from '../../src/config.js';
import { readGgufSummary } from '../../src/engines/llama/gguf/gguf-reader.js';
import { embeddingModelName, ensureEmbeddingModel, generateEmbeddingModel } from '../../src/engines/llama/gguf/embedding-model.js';
import { generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, LLAMA_DEFAULTS } from '../../src/engines/llama/llama-engine.js';
import { createFormatter } from '../../src/engines/llama/prompts.js';
import { loadModelFile } from '../../src/engines/llama/runtime.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-embed-model-'));
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const norm = (v: number[]) => Math.sqrt(v.reduce((n, x) => n + x * x, 0));
const cosine = (a: number[], b: number[]) => a.reduce((n, x, i) => n + x * b[i]!, 0) / (norm(a) * norm(b));

/**
 * The longest line Mistral's batch example can send: `' '.join(random.choices(letters,
 * k=4999))` (randrange(100, 5000) stops at 4999) with max_tokens up to 1000. Every
 * letter is one token whatever the letters, so a fixed pseudo-random draw stands for all.
 */
function longestExamplePrompt(): string {
  let seed = 7;
  const letters = Array.from({ length: 4999 }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return 'abcdefghijklmnopqrstuvwxyz'[seed % 26]!;
  });
  return letters.join(' ');
}

after(async () => {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('generated embedding model', () => {
  test('is deterministic, a few MB, with the dimension as its hidden size and mean pooling', () => {
    const [a, b] = [path.join(dir, 'a.gguf'), path.join(dir, 'b.gguf')];
    generateEmbeddingModel(a, { dimension: 1024 });
    generateEmbeddingModel(b, { dimension: 1024 });
    assert.equal(sha(a), sha(b));
    assert.ok(fs.statSync(a).size < 12 * 1024 * 1024, `${fs.statSync(a).size} bytes`);
    const m = readGgufSummary(a).metadata;
    assert.equal(m.get('llama.embedding_length'), 1024);
    assert.equal(m.get('llama.pooling_type'), 1);
    assert.equal(m.get('general.file_type'), 1, 'F16');
    assert.ok((m.get('llama.block_count') as number) <= 4);
    assert.ok((m.get('llama.context_length') as number) >= 8192, 'inputs as long as Mistral accepts');
  });

  test('refuses a dimension it cannot build, before writing anything', () => {
    const bad = path.join(dir, 'bad.gguf');
    assert.throws(() => generateEmbeddingModel(bad, { dimension: 1000.5 }), /dimension must be an integer/);
    assert.throws(() => generateEmbeddingModel(bad, { dimension: 16 }), /dimension must be an integer from 64/);
    assert.equal(fs.existsSync(bad), false);
  });

  test('is created once and replaced when stale or corrupt', async () => {
    const file = path.join(dir, 'models', 'batchd-embed-1024.gguf');
    await ensureEmbeddingModel(file, 1024);
    assert.equal(readGgufSummary(file).metadata.get('general.name'), embeddingModelName(1024));
    const inode = fs.statSync(file).ino;
    await ensureEmbeddingModel(file, 1024);
    assert.equal(fs.statSync(file).ino, inode, 'a current file is kept');
    fs.writeFileSync(file, 'half a model');
    await ensureEmbeddingModel(file, 1024);
    assert.equal(readGgufSummary(file).metadata.get('llama.embedding_length'), 1024);
    await ensureEmbeddingModel(file, 1536);
    assert.equal(readGgufSummary(file).metadata.get('llama.embedding_length'), 1536, 'another dimension is another model');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['batchd-embed-1024.gguf']);
  });

  test('loads in llama.cpp, embeds 1024 values, and counts tokens as the chat model does', async () => {
    const file = path.join(dir, 'load.gguf');
    const chatFile = path.join(dir, 'chat.gguf');
    generateEmbeddingModel(file, { dimension: 1024 });
    generateTinyModel(chatFile);
    const [model, chat] = [await loadModelFile(file), await loadModelFile(chatFile)];
    try {
      const ctx = await model.createEmbeddingContext({ threads: 1, contextSize: 512 });
      const embed = async (text: string) => [...(await ctx.getEmbeddingFor(text)).vector];
      const v = await embed('hello world');
      assert.equal(v.length, 1024);
      assert.ok(v.every(Number.isFinite));
      // Mean pooling over random token vectors: shared words pull texts together.
      const near = cosine(v, await embed('hello world, the batch request'));
      const far = cosine(v, await embed('the cold river near the mountain'));
      assert.ok(near > far, `${near} > ${far}`);
      const text = 'What is the best French cheese? 42 ünïcode';
      assert.deepEqual([...model.tokenize(text)], [...chat.tokenize(text)]);
      await ctx.dispose();
    } finally {
      await model.dispose();
      await chat.dispose();
    }
  });
});

describe('default context', () => {
  test("holds the longest line of Mistral's batch example, prompt and max_tokens together", async () => {
    const file = path.join(dir, 'context.gguf');
    generateTinyModel(file);
    const model = await loadModelFile(file);
    try {
      const prompt = createFormatter(model).chat([{ role: 'user', content: longestExamplePrompt() }]).tokens.length;
      const contexts = [LLAMA_DEFAULTS.contextSize, loadConfig({}, {}).llama.contextSize, model.trainContextSize];
      for (const size of contexts) assert.ok(prompt + 1000 <= size, `${prompt} prompt tokens + 1000 fit in ${size}`);
    } finally {
      await model.dispose();
    }
  });
});

describe('default models through the server and the official SDK', () => {
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    // The default context size (no BATCHD_LLAMA_CONTEXT); fewer sequences only to spare memory.
    server = await startTestServer({ env: { BATCHD_LLAMA_SEQUENCES: '2' } });
    client = new Mistral({ apiKey: 'key-a', serverURL: server.url });
  });
  after(() => server.stop());

  test('mistral-embed returns deterministic 1024-dimensional unit vectors from its own model, generated at first use', async () => {
    const file = path.join(server.dataDir, 'models', 'batchd-embed-1024.gguf');
    assert.ok(!fs.existsSync(file), 'not generated before anything asked for embeddings');
    const a = await client.embeddings.create({ model: 'mistral-embed', inputs: ['hello world', 'the batch request'] });
    assert.ok(fs.existsSync(file));
    const b = await client.embeddings.create({ model: 'mistral-embed', inputs: ['hello world'] });
    assert.equal(a.data.length, 2);
    for (const d of a.data) {
      assert.equal(d.embedding!.length, 1024);
      assert.ok(Math.abs(norm(d.embedding!) - 1) < 1e-6);
    }
    assert.deepEqual(b.data[0]!.embedding, a.data[0]!.embedding);
    assert.notDeepEqual(a.data[1]!.embedding, a.data[0]!.embedding);
    assert.ok(a.usage.promptTokens! > 0);
  });

  test('output_dimension 256 truncates and renormalises', async () => {
    const full = await client.embeddings.create({ model: 'mistral-embed', inputs: ['hello world'] });
    const short = await client.embeddings.create({ model: 'mistral-embed', inputs: ['hello world'], outputDimension: 256 });
    const v = short.data[0]!.embedding!;
    assert.equal(v.length, 256);
    assert.ok(Math.abs(norm(v) - 1) < 1e-6);
    const head = full.data[0]!.embedding!.slice(0, 256);
    assert.ok(cosine(v, head) > 0.999999, 'the first 256 values, rescaled');
  });

  test("the longest line of Mistral's batch example (4,999 letters, max_tokens 1000) succeeds", async () => {
    const res = await server.request('POST', '/v1/chat/completions', {
      model: 'mistral-small-latest',
      messages: [{ role: 'user', content: longestExamplePrompt() }],
      max_tokens: 1000,
      temperature: 0,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    assert.ok(res.body.usage.prompt_tokens > 5000, `${res.body.usage.prompt_tokens} prompt tokens`);
    assert.ok(res.body.usage.completion_tokens <= 1000);
  });
});
