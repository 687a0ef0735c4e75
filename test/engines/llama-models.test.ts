import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import { CompletionText } from '../../src/engines/llama/completion-text.js';
import { createFormatter } from '../../src/engines/llama/prompts.js';
import { loadModelFile } from '../../src/engines/llama/runtime.js';
import type { Token } from 'node-llama-cpp';
import { generatedModels, llamaEntry as entry, never } from '../helpers/generated-models.js';

const { dir } = generatedModels('batchd-llama-models-');

describe('embedded engine on other model files', () => {
  test('a missing, non-GGUF or truncated file fails engine creation with an error naming the file', async () => {
    const good = path.join(dir, 'good.gguf');
    generateTinyModel(good);
    const missing = path.join(dir, 'missing.gguf');
    await assert.rejects(createLlamaEngine(entry(missing)), (e: Error) => e.message.includes(missing) && /does not exist/.test(e.message));
    const junk = path.join(dir, 'junk.gguf');
    fs.writeFileSync(junk, 'this is not a model');
    await assert.rejects(createLlamaEngine(entry(junk)), (e: Error) => e.message.includes(junk) && /not a GGUF/.test(e.message));
    const truncated = path.join(dir, 'truncated.gguf');
    fs.writeFileSync(truncated, fs.readFileSync(good).subarray(0, 300_000));
    await assert.rejects(createLlamaEngine(entry(truncated)), (e: Error) => e.message.includes(truncated) && /truncated/.test(e.message));
    await assert.rejects(createLlamaEngine(entry(good), { sequences: 0 }), /sequences must be a positive integer/);
  });

  test('an F32 model with grouped-query attention loads and answers', async () => {
    const f32 = path.join(dir, 'f32.gguf');
    generateTinyModel(f32, { type: 'f32', heads: 4, kvHeads: 2 });
    const engine = await createLlamaEngine(entry(f32), { sequences: 2, contextSize: 256 });
    try {
      const res = await engine.execute(
        {
          endpoint: '/v1/chat/completions',
          body: { messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, temperature: 0 },
          model: entry(f32),
          priority: 'batch',
        },
        never,
      );
      assert.equal(res.usage.completion_tokens, 8);
      assert.match((res.body.choices as { message: { content: string } }[])[0]!.message.content, /^[a-z]+( [a-z]+)*$/);
    } finally {
      await engine.close();
    }
  });

  test('a model with another chat template is formatted by that template', async () => {
    const chatml = path.join(dir, 'chatml.gguf');
    const template =
      "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    generateTinyModel(chatml, { chatTemplate: template });
    const model = await loadModelFile(chatml);
    try {
      const text = model.detokenize(createFormatter(model).chat([{ role: 'user', content: 'hello there' }]).tokens, true);
      assert.match(text, /<\|im_start\|>user\nhello there ?<\|im_end\|>\n<\|im_start\|>assistant\n$/);
    } finally {
      await model.dispose();
    }
  });

  test("a model without a chat template gets Mistral's layout", async () => {
    const bare = path.join(dir, 'bare.gguf');
    generateTinyModel(bare, { chatTemplate: null });
    const model = await loadModelFile(bare);
    try {
      const text = model.detokenize(createFormatter(model).chat([{ role: 'user', content: 'hello there' }]).tokens, true);
      assert.match(text, /^<s>\[INST\] +hello there\[\/INST\]$/);
    } finally {
      await model.dispose();
    }
  });

  test('completion text holds back split UTF-8 characters and cuts stop strings across tokens', async () => {
    const bytesFile = path.join(dir, 'bytes.gguf');
    generateTinyModel(bytesFile);
    const model = await loadModelFile(bytesFile);
    try {
      // Byte-fallback tokens follow the 8 control tokens: <0xC3><0xA9> is "é", <0xF0><0x9F><0x98><0x80> is "😀".
      const byte = (b: number) => (8 + b) as Token;
      const deltas: string[] = [];
      const text = new CompletionText(model, [], [], (d) => deltas.push(d));
      for (const t of [...model.tokenize('cafe'), byte(0xc3)]) text.push(t);
      assert.equal(deltas.join(''), 'cafe', 'half a character is not sent');
      for (const t of [byte(0xa9), byte(0xf0), byte(0x9f), byte(0x98), byte(0x80)]) text.push(t);
      assert.equal(text.finish(), 'cafeé😀');
      assert.equal(deltas.join(''), 'cafeé😀');
      assert.ok(
        deltas.every((d) => !d.includes('\uFFFD') && !/[\uD800-\uDBFF]$/.test(d)),
        JSON.stringify(deltas),
      );

      const stopped = new CompletionText(model, [], ['er tr'], (d) => deltas.push(d));
      let hit = false;
      for (const t of model.tokenize('the river tree')) if ((hit = stopped.push(t))) break;
      assert.ok(hit);
      assert.equal(stopped.finish(), 'the riv');
    } finally {
      await model.dispose();
    }
  });
});
