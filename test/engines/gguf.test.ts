import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readGgufSummary } from '../../src/engines/llama/gguf/gguf-reader.js';
import { toHalf } from '../../src/engines/llama/gguf/gguf-writer.js';
import { ensureDefaultModel, generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { validateModelFile } from '../../src/engines/llama/model-file.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-gguf-'));
const file = path.join(dir, 'tiny.gguf');
generateTinyModel(file);
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A copy of the model with one metadata key renamed (same length, so the file stays well-formed), i.e. missing. */
function withoutKey(key: string): string {
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(Buffer.from(key));
  assert.ok(at > 0, `${key} is in the file`);
  bytes[at + key.length - 1] = 'X'.charCodeAt(0);
  const out = path.join(dir, `without-${key}.gguf`);
  fs.writeFileSync(out, bytes);
  return out;
}

after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('tiny GGUF generator', () => {
  test('writes the same bytes every time, a few MB at most', () => {
    const again = path.join(dir, 'again.gguf');
    generateTinyModel(again);
    assert.equal(sha(again), sha(file));
    assert.ok(fs.statSync(file).size < 4 * 1024 * 1024, `${fs.statSync(file).size} bytes`);
  });

  test('F32 is deterministic too, twice the size of the default F16, and typed as such', () => {
    const a = path.join(dir, 'a32.gguf');
    const b = path.join(dir, 'b32.gguf');
    generateTinyModel(a, { type: 'f32' });
    generateTinyModel(b, { type: 'f32' });
    assert.equal(sha(a), sha(b));
    assert.ok(fs.statSync(file).size < fs.statSync(a).size * 0.6);
    const [f16, f32] = [readGgufSummary(file), readGgufSummary(a)];
    assert.deepEqual([f16.metadata.get('general.file_type'), f32.metadata.get('general.file_type')], [1, 0]);
    assert.deepEqual([f16.tensors[0]!.type, f32.tensors[0]!.type], [1, 0]);
    assert.equal(f16.tensors.find((t) => t.name === 'output_norm.weight')?.type, 0, 'norm vectors stay F32');
  });

  test('the header carries the llama hyperparameters, the tokenizer and Mistral FIM tokens', () => {
    const info = readGgufSummary(file);
    assert.equal(info.version, 3);
    const m = info.metadata;
    assert.equal(m.get('general.architecture'), 'llama');
    for (const key of ['llama.feed_forward_length', 'llama.attention.head_count', 'llama.embedding_length', 'llama.block_count', 'llama.context_length'])
      assert.equal(typeof m.get(key), 'number', key);
    assert.equal(m.get('tokenizer.ggml.model'), 'llama');
    const vocab = (m.get('tokenizer.ggml.tokens') as { length: number }).length;
    assert.ok(vocab > 256 + 8 + 500, `${vocab} tokens: control, 256 bytes, words and their prefixes`);
    assert.deepEqual([m.get('tokenizer.ggml.fim_pre_token_id'), m.get('tokenizer.ggml.fim_suf_token_id'), m.get('tokenizer.ggml.fim_mid_token_id')], [5, 6, 7]);
    assert.match(String(m.get('tokenizer.chat_template')), /\[INST\]/);
    assert.equal(info.tensors.length, 3 + 2 * 9);
    const last = info.tensors[info.tensors.length - 1]!;
    assert.equal(info.dataStart + last.offset + last.bytes!, info.fileSize, 'the last tensor ends the file');
  });

  test('grouped-query attention shapes the key/value tensors', () => {
    const gqa = path.join(dir, 'gqa.gguf');
    generateTinyModel(gqa, { embedding: 64, heads: 4, kvHeads: 2 });
    const k = readGgufSummary(gqa).tensors.find((t) => t.name === 'blk.0.attn_k.weight')!;
    assert.deepEqual(k.dims, [64, 32]);
  });

  test('inconsistent hyperparameters are refused before anything is written', () => {
    const bad = path.join(dir, 'bad.gguf');
    assert.throws(() => generateTinyModel(bad, { embedding: 60, heads: 8 }), /divisible by heads/);
    assert.throws(() => generateTinyModel(bad, { embedding: 48, heads: 16 }), /head size \(3\) must be even/);
    assert.throws(() => generateTinyModel(bad, { heads: 4, kvHeads: 3 }), /multiple of kvHeads/);
    assert.throws(() => generateTinyModel(bad, { feedForward: 0 }), /feedForward must be an integer/);
    assert.throws(() => generateTinyModel(bad, { layers: 1.5 }), /layers must be an integer/);
    assert.equal(fs.existsSync(bad), false);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp')),
      [],
      'no temporary files are left behind',
    );
  });

  test('half-precision conversion rounds like IEEE 754', () => {
    assert.equal(toHalf(1), 0x3c00);
    assert.equal(toHalf(-2), 0xc000);
    assert.equal(toHalf(65504), 0x7bff);
    assert.equal(toHalf(1e6), 0x7c00, 'overflow is infinity');
    assert.equal(toHalf(0.1), 0x2e66);
    assert.equal(toHalf(2 ** -24), 0x0001, 'smallest subnormal');
    assert.equal(toHalf(1e-9), 0);
  });
});

describe('default model file', () => {
  test('is created once, atomically, and replaced when it is corrupt', async () => {
    const modelDir = path.join(dir, 'models');
    const p = await ensureDefaultModel(modelDir);
    assert.equal(p, path.join(modelDir, 'batchd-tiny.gguf'));
    assert.equal(sha(p), sha(file), 'the default model is the generator default');
    const inode = fs.statSync(p).ino;
    await ensureDefaultModel(modelDir);
    assert.equal(fs.statSync(p).ino, inode, 'an existing current file is kept');
    fs.writeFileSync(p, 'half a model');
    await ensureDefaultModel(modelDir);
    assert.equal(sha(p), sha(file));
    assert.deepEqual(fs.readdirSync(modelDir), ['batchd-tiny.gguf']);
  });
});

describe('model file checks (before llama.cpp sees the file)', () => {
  const rejects = (f: string, problem: RegExp) =>
    assert.rejects(validateModelFile(f), (e: Error) => e.message.includes(f) && problem.test(e.message), `${f}: ${problem}`);

  test('a good file passes and its header is returned', async () => {
    const info = await validateModelFile(file);
    assert.equal(info.metadata.get('general.architecture'), 'llama');
  });

  test('a missing file, a directory, or a file that is not GGUF is named with the problem', async () => {
    await rejects(path.join(dir, 'nope.gguf'), /does not exist/);
    await rejects(dir, /not a regular file/);
    const junk = path.join(dir, 'junk.gguf');
    fs.writeFileSync(junk, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)));
    await rejects(junk, /not a GGUF file/);
    const garbage = path.join(dir, 'garbage.gguf');
    fs.writeFileSync(garbage, Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(4000, 0xab)]));
    await rejects(garbage, /corrupt or truncated/);
  });

  test('a truncated file is caught wherever it was cut', async () => {
    const bytes = fs.readFileSync(file);
    for (const keep of [6, 100, 20_000, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const cut = path.join(dir, `cut-${keep}.gguf`);
      fs.writeFileSync(cut, bytes.subarray(0, keep));
      await rejects(cut, /truncated|not a GGUF/);
    }
  });

  test('missing hyperparameters that would abort llama.cpp natively are named', async () => {
    for (const key of ['llama.feed_forward_length', 'llama.attention.head_count', 'llama.embedding_length', 'tokenizer.ggml.tokens']) {
      await rejects(withoutKey(key), new RegExp(`missing required metadata \\(${key.replace(/\./g, '\\.')}\\)`));
    }
  });
});
