import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { anyJsonObject, compileGrammar, fitSizes, maxBytes, parseSchema, SchemaError } from '../../src/engines/llama/json-grammar.js';
import { closeAllLlama, createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import type { Engine, EngineResult } from '../../src/engines/engine.js';
import type { ModelEntry } from '../../src/models/registry.js';

const ajv = new Ajv({ strict: false });

const order = {
  type: 'object',
  properties: {
    id: { type: 'string', minLength: 3, maxLength: 12 },
    when: { type: 'string', format: 'date' },
    quantity: { type: 'integer', minimum: 1, maximum: 20 },
    price: { type: 'number', minimum: 0 },
    status: { anyOf: [{ const: 'open' }, { const: 'closed' }] },
    items: { type: 'array', items: { $ref: '#/$defs/item' }, minItems: 1 },
    note: { type: ['string', 'null'] },
    extra: { type: 'object', additionalProperties: { type: 'boolean' }, maxProperties: 2 },
  },
  required: ['id', 'items'],
  $defs: { item: { type: 'object', properties: { sku: { type: 'string' }, gift: { type: 'boolean' } }, required: ['sku'] } },
};

describe('JSON Schema → bounded grammar', () => {
  test('unsupported keywords are refused with the path of the schema that uses them', () => {
    const cases: [object, RegExp][] = [
      [{ type: 'object', properties: { a: { type: 'string', pattern: 'x' } } }, /root\.properties\.a: the keyword 'pattern'/],
      [{ not: { type: 'string' } }, /'not' is not supported/],
      [{ type: 'number', minimum: 0.5, maximum: 1000 }, /numeric range/],
      [{ type: 'integer', multipleOf: 2 }, /'multipleOf'/],
      [{ $ref: '#/$defs/a', $defs: { a: { type: 'array', items: { $ref: '#/$defs/a' } } } }, /recursive/],
      [{ $ref: '#/$defs/missing' }, /does not point/],
      [{ type: 'string', minLength: 5, maxLength: 2 }, /no string satisfies/],
      [{ type: 'object', required: ['x'], properties: {} }, /'x' is required but has no schema/],
    ];
    for (const [schema, message] of cases)
      assert.throws(
        () => parseSchema(schema, 'root'),
        (e: unknown) => e instanceof SchemaError && message.test(e.message),
        JSON.stringify(schema),
      );
  });

  test('small integer ranges become enumerations; open sizes shrink to the budget, arrays before nothing fits', () => {
    assert.deepEqual(parseSchema({ type: 'integer', minimum: 1, maximum: 3 }, 'r'), { kind: 'literal', values: [1, 2, 3] });
    const node = parseSchema(order, 'r');
    const roomy = fitSizes(node, 8000)!;
    const tight = fitSizes(node, 400)!;
    assert.ok(roomy.chars > tight.chars || roomy.items > tight.items);
    assert.ok(maxBytes(node, tight) <= 400);
    assert.equal(fitSizes(node, 20), null);
    assert.throws(() => compileGrammar(node, 20, 'response_format'), /only 20 are available/);
  });

  describe('on the generated model, at a high temperature', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-grammar-'));
    const file = path.join(dir, 'tiny.gguf');
    const entry: ModelEntry = {
      id: 'tiny',
      engine: 'llama',
      path: file,
      endpoints: [],
      max_in_flight: 8,
      input_price_per_mtok: 0,
      output_price_per_mtok: 0,
      context_length: 4096,
    };
    let engine: Engine;
    before(async () => {
      generateTinyModel(file);
      engine = await createLlamaEngine(entry, { threads: 1, sequences: 4, contextSize: 4096 });
    });
    after(async () => {
      await closeAllLlama();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const run = (body: Record<string, unknown>) =>
      engine.execute(
        {
          endpoint: '/v1/chat/completions',
          body: { model: 'tiny', messages: [{ role: 'user', content: 'order?' }], temperature: 1.5, ...body },
          model: entry,
          priority: 'batch',
        },
        new AbortController().signal,
      );
    const content = (r: EngineResult) => (r.body.choices as { message: { content: string }; finish_reason: string }[])[0]!;

    for (const maxTokens of [200, 400, undefined]) {
      test(`every answer parses, matches the schema and ends by itself within max_tokens ${maxTokens ?? '(context)'}`, async () => {
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, seed) =>
            run({ max_tokens: maxTokens, random_seed: seed, response_format: { type: 'json_schema', json_schema: { name: 'order', schema: order } } }),
          ),
        );
        for (const r of results) {
          const c = content(r);
          assert.equal(c.finish_reason, 'stop', c.message.content);
          assert.ok(ajv.validate(order, JSON.parse(c.message.content)), `${ajv.errorsText()}: ${c.message.content}`);
          if (maxTokens) assert.ok(r.usage.completion_tokens <= maxTokens);
        }
      });
    }

    test('json_object answers are bounded objects too', async () => {
      const node = anyJsonObject();
      assert.ok(maxBytes(node, fitSizes(node, 64)!) <= 64);
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, seed) => run({ max_tokens: 64, random_seed: seed, response_format: { type: 'json_object' } })),
      );
      for (const r of results) {
        const parsed = JSON.parse(content(r).message.content);
        assert.ok(parsed && typeof parsed === 'object' && !Array.isArray(parsed));
        assert.ok(r.usage.completion_tokens <= 64);
      }
    });
  });
});
