import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { LlamaModel, Token } from 'node-llama-cpp';
import { CHATML_FORMAT, LLAMA3_FORMAT, type ChatFormat } from '../../src/engines/llama/gguf/chat-formats.js';
import { createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import { createFormatter } from '../../src/engines/llama/prompts.js';
import { loadModelFile } from '../../src/engines/llama/runtime.js';
import { generatedModels, llamaEntry as entry, never } from '../helpers/generated-models.js';
import { startTestServer } from '../helpers/server.js';

const models = generatedModels('batchd-chat-templates-');
const conversation = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'hello there' },
  { role: 'assistant', content: 'the sea' },
  { role: 'user', content: 'and the river' },
];

function modelFile(name: string, format: ChatFormat | null, contextLength?: number): string {
  return models.file(name, { ...(format ? { chatFormat: format } : {}), ...(contextLength ? { contextLength } : {}) });
}

async function withModel<T>(file: string, fn: (model: LlamaModel) => Promise<T> | T): Promise<T> {
  const model = await loadModelFile(file);
  try {
    return await fn(model);
  } finally {
    await model.dispose();
  }
}

/** The vocabulary id of a control token: one token, marked special. */
function controlToken(model: LlamaModel, text: string): Token {
  const t = model.tokenize(text, true);
  assert.equal(t.length, 1, `${text} is one token`);
  assert.ok(model.isSpecialToken(t[0]), `${text} is a control token`);
  return t[0]!;
}

describe("each model's own chat template", () => {
  test('a Llama-3 model gets its header and end-of-turn control tokens, in its layout', async () => {
    await withModel(modelFile('llama3', LLAMA3_FORMAT), (model) => {
      const prompt = createFormatter(model).chat(conversation);
      const expected =
        '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nbe brief<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nhello there<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nthe sea<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nand the river<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n';
      assert.deepEqual(prompt.tokens, model.tokenize(expected, true), model.detokenize(prompt.tokens, true));
      const header = controlToken(model, '<|start_header_id|>');
      const eot = controlToken(model, '<|eot_id|>');
      assert.equal(prompt.tokens[0], controlToken(model, '<|begin_of_text|>'));
      assert.equal(prompt.tokens.filter((t) => t === header).length, 5);
      assert.equal(prompt.tokens.filter((t) => t === eot).length, 4);
      assert.ok(model.isEogToken(eot), '<|eot_id|> ends generation');
      assert.ok(!model.detokenize(prompt.tokens, true).includes('[INST]'));
    });
  });

  test('a ChatML model gets <|im_start|> and <|im_end|> control tokens, in its layout', async () => {
    await withModel(modelFile('chatml', CHATML_FORMAT), (model) => {
      const prompt = createFormatter(model).chat(conversation);
      const turns = '<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\nthe sea<|im_end|>\n';
      const expected = `${turns}<|im_start|>user\nand the river<|im_end|>\n<|im_start|>assistant\n`;
      const bos = model.tokens.bos === null ? [] : [model.tokens.bos];
      assert.deepEqual(prompt.tokens, [...bos, ...model.tokenize(expected, true)], model.detokenize(prompt.tokens, true));
      const start = controlToken(model, '<|im_start|>');
      const end = controlToken(model, '<|im_end|>');
      assert.equal(prompt.tokens.filter((t) => t === start).length, 5);
      assert.equal(prompt.tokens.filter((t) => t === end).length, 4);
      assert.ok(model.isEogToken(end), '<|im_end|> ends generation');
    });
  });

  test("a Mistral model keeps Mistral's [INST] layout with its control tokens", async () => {
    await withModel(modelFile('mistral', null), (model) => {
      const prompt = createFormatter(model).chat(conversation);
      const inst = controlToken(model, '[INST]');
      const endInst = controlToken(model, '[/INST]');
      assert.equal(prompt.tokens.filter((t) => t === inst).length, 2);
      assert.equal(prompt.tokens.filter((t) => t === endInst).length, 2);
      assert.match(model.detokenize(prompt.tokens, true), /^<s>\[INST\] +hello there\[\/INST\] +the sea<\/s>\[INST\] +be brief\n\nand the river\[\/INST\]$/);
    });
  });

  test('the engine answers on each template: prompt tokens as formatted, no control token in the text, <|eot_id|> ends answers', async () => {
    for (const [name, format] of [
      ['llama3-engine', LLAMA3_FORMAT],
      ['chatml-engine', CHATML_FORMAT],
    ] as const) {
      const file = modelFile(name, format);
      const expected = await withModel(file, (model) => createFormatter(model).chat([{ role: 'user', content: 'tell me about the river' }]).tokens.length);
      const engine = await createLlamaEngine(entry(file), { threads: 1, sequences: 2, contexts: 1, contextSize: 1024 });
      try {
        const reasons: string[] = [];
        for (let seed = 0; seed < 6; seed++) {
          const res = await engine.execute(
            {
              endpoint: '/v1/chat/completions',
              body: { messages: [{ role: 'user', content: 'tell me about the river' }], max_tokens: 200, temperature: 0.8, random_seed: seed },
              model: entry(file),
              priority: 'batch',
            },
            never,
          );
          assert.equal(res.usage.prompt_tokens, expected, name);
          const choice = (res.body.choices as { message: { content: string }; finish_reason: string }[])[0]!;
          assert.doesNotMatch(choice.message.content, /<\||\|>/, `${name}: no control token in the text`);
          reasons.push(choice.finish_reason);
        }
        // The random weights make end-of-turn likely only after some words; on the Llama-3 model's they do within 200 tokens.
        if (format === LLAMA3_FORMAT) assert.ok(reasons.includes('stop'), `${name}: some answers end on <|eot_id|> (${reasons.join(', ')})`);
      } finally {
        await engine.close();
      }
    }
  });
});

describe("a model's trained context, within the memory budget", () => {
  // The generated model's KV cache: 2 layers x 4 KV heads x (16 + 16) x 2 bytes = 512 bytes per token.
  const MB = 2 ** 20;

  test('a long trained context is used whole when the budget holds it, and capped by the budget when not', async () => {
    const file = modelFile('long-32k', LLAMA3_FORMAT, 32768);
    const whole = { ...entry(file), id: 'whole' };
    const engine = await createLlamaEngine(whole, { threads: 1, sequences: 2, contexts: 1, contextFromModel: true, memoryBytes: 64 * MB });
    try {
      assert.equal(whole.context_length, 32768, 'the trained context, reported for /v1/models');
    } finally {
      await engine.close();
    }
    const capped = path.join(models.dir, 'long-32k-capped.gguf');
    fs.copyFileSync(file, capped);
    const small = { ...entry(capped), id: 'capped' };
    // 16 MB for 2 sequences of 512 bytes a token: 16,384 tokens each.
    const engine2 = await createLlamaEngine(small, { threads: 1, sequences: 2, contexts: 1, contextFromModel: true, memoryBytes: 16 * MB });
    try {
      assert.equal(small.context_length, 16384);
      const long = 'the river '.repeat(6000);
      const res = await engine2.execute(
        { endpoint: '/v1/chat/completions', body: { messages: [{ role: 'user', content: long }], max_tokens: 4 }, model: small, priority: 'batch' },
        never,
      );
      assert.ok(res.usage.prompt_tokens > 8192, `a prompt of ${res.usage.prompt_tokens} tokens, beyond the old 8192 default, fits`);
    } finally {
      await engine2.close();
    }
  });

  test('/v1/models reports the context of a --model GGUF; BATCHD_LLAMA_CONTEXT overrides it', async () => {
    const file = modelFile('served-32k', CHATML_FORMAT, 32768);
    const models = { models: [{ id: 'long-chatml', engine: 'llama', path: file }] };
    const server = await startTestServer({ models, env: { BATCHD_LLAMA_SEQUENCES: '2', BATCHD_LLAMA_MEMORY_MB: '24' } });
    try {
      const card = (await server.request('GET', '/v1/models/long-chatml')).body;
      // 24 MB for 2 sequences: 24,576 tokens each, below the trained 32,768.
      assert.equal(card.max_context_length, 24576);
      const builtIn = (await server.request('GET', '/v1/models/mistral-small-latest')).body;
      assert.equal(builtIn.max_context_length, 8192, "the default model's trained context");
    } finally {
      await server.stop();
    }
    const fixed = await startTestServer({ models, env: { BATCHD_LLAMA_SEQUENCES: '2', BATCHD_LLAMA_CONTEXT: '4096' } });
    try {
      assert.equal((await fixed.request('GET', '/v1/models/long-chatml')).body.max_context_length, 4096);
    } finally {
      await fixed.stop();
    }
  });
});
