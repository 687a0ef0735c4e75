import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildRegistry, type ModelEntry } from '../../src/models/registry.js';
import { mistralCatalogue } from '../../src/models/catalogue.js';
import os from 'node:os';

const CHAT = ['/v1/chat/completions', '/v1/moderations', '/v1/chat/moderations'];
const CODE = ['/v1/chat/completions', '/v1/fim/completions', '/v1/moderations', '/v1/chat/moderations'];
const MODERATION = ['/v1/moderations', '/v1/chat/moderations', '/v1/classifications', '/v1/chat/classifications'];

describe('the default registry: every Mistral model name on the embedded engine', () => {
  const reg = buildRegistry({ defaultModelPath: '/models/default.gguf', configPath: null, modelFiles: [] });
  /** The entry's data, without what differs between a model's names. */
  const data = ({ id: _id, aliases: _aliases, ...rest }: ModelEntry) => rest;

  test('every catalogue id and alias resolves, to the same data, listing the other names as aliases', () => {
    const catalogue = mistralCatalogue();
    let names = 0;
    for (const m of catalogue.models) {
      const all = [m.id, ...m.aliases];
      const canonical = reg.get(m.id)!;
      for (const name of all) {
        const e = reg.get(name);
        assert.ok(e, name);
        assert.equal(e.id, name);
        assert.equal(e.canonical_id, m.id, name);
        assert.deepEqual(
          e.aliases,
          all.filter((n) => n !== name),
          name,
        );
        assert.deepEqual(data(e), data(canonical), name);
        assert.deepEqual(
          [e.engine, e.input_price_per_mtok, e.output_price_per_mtok, e.mistral_context_length, e.deprecation],
          ['llama', m.input_price_per_mtok, m.output_price_per_mtok, m.max_context_length, m.deprecation],
          name,
        );
        names++;
      }
    }
    assert.equal(reg.models.length, names);
    assert.ok(names >= 50, `${names} names`);
  });

  const served: [string, string[], string][] = [
    ['mistral-tiny', CHAT, 'open-mistral-nemo-2407'],
    ['mistral-tiny-latest', CHAT, 'open-mistral-nemo-2407'],
    ['open-mistral-nemo', CHAT, 'open-mistral-nemo-2407'],
    ['mistral-small-latest', CHAT, 'mistral-small-2603'],
    ['mistral-medium-latest', CHAT, 'mistral-medium-3-5'],
    ['mistral-medium-3-5', CHAT, 'mistral-medium-3-5'],
    ['mistral-large-latest', CHAT, 'mistral-large-2512'],
    ['ministral-8b-latest', CHAT, 'ministral-8b-2512'],
    ['magistral-medium-latest', CHAT, 'magistral-medium-2509'],
    ['pixtral-12b', CHAT, 'pixtral-12b-2409'],
    ['codestral-latest', CODE, 'codestral-2508'],
    ['codestral-2508', CODE, 'codestral-2508'],
    ['devstral-latest', CHAT, 'devstral-2512'],
    ['mistral-embed', ['/v1/embeddings'], 'mistral-embed-2312'],
    ['codestral-embed', ['/v1/embeddings'], 'codestral-embed-2505'],
    ['mistral-moderation-latest', MODERATION, 'mistral-moderation-2603'],
  ];
  for (const [name, endpoints, canonical] of served) {
    test(`${name} is served as ${canonical} on ${endpoints.join(' ')}`, () => {
      const e = reg.get(name)!;
      assert.ok(e, name);
      assert.deepEqual([e.canonical_id, e.endpoints, e.path], [canonical, endpoints, '/models/default.gguf']);
    });
  }

  test("capabilities say what the embedded engine serves; Mistral's own are kept beside them", () => {
    const pixtral = reg.get('pixtral-12b')!;
    assert.equal(pixtral.capabilities?.vision, false);
    assert.equal(pixtral.mistral_capabilities?.vision, true);
    assert.equal(pixtral.capabilities?.function_calling, true);
    for (const m of reg.models) assert.equal(m.capabilities?.vision, false, m.id);
    for (const id of ['magistral-medium-latest', 'mistral-medium-3-5']) assert.equal(reg.get(id)?.capabilities?.reasoning, true, id);
    assert.equal(reg.get('mistral-small-latest')?.capabilities?.reasoning, false);
    assert.deepEqual(
      reg.models
        .filter((m) => m.capabilities?.completion_fim)
        .map((m) => m.id)
        .sort(),
      ['codestral-2508', 'codestral-latest'],
    );
    const moderation = reg.get('mistral-moderation-latest')!;
    assert.deepEqual(
      [moderation.type, moderation.capabilities?.classification, moderation.capabilities?.moderation, moderation.capabilities?.completion_chat],
      ['moderation', true, true, false],
    );
    assert.deepEqual([reg.get('mistral-embed')?.type, reg.get('mistral-embed')?.capabilities?.completion_chat], ['embedding', false]);
  });

  test("context_length is the embedded engine's (8192 unless told), not Mistral's", () => {
    assert.equal(reg.get('mistral-medium-3-5')?.context_length, 8192);
    assert.equal(reg.get('mistral-medium-3-5')?.mistral_context_length, 262144);
    const small = buildRegistry({ defaultModelPath: '/d.gguf', configPath: null, modelFiles: [], defaultContextLength: 2048 });
    for (const m of small.models) assert.equal(m.context_length, 2048, m.id);
  });

  test('embedding models use the GGUF of their dimension when the server provides one', () => {
    const asked: number[] = [];
    const withEmbed = buildRegistry({
      defaultModelPath: '/d.gguf',
      configPath: null,
      modelFiles: [],
      embeddingModelPath: (dim) => (asked.push(dim), `/embed-${dim}.gguf`),
    });
    assert.equal(withEmbed.get('mistral-embed')?.path, '/embed-1024.gguf');
    assert.equal(withEmbed.get('codestral-embed-2505')?.path, '/embed-1536.gguf');
    assert.equal(withEmbed.get('codestral-embed')?.embedding_dimension, 1536);
    assert.equal(withEmbed.get('mistral-small-latest')?.path, '/d.gguf');
    assert.deepEqual([...new Set(asked)].sort(), [1024, 1536]);
    assert.equal(reg.get('mistral-embed')?.path, '/models/default.gguf');
  });
});

describe('model registry file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-registry-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const build = (content: unknown) => {
    const file = path.join(dir, `models-${n++}.json`);
    fs.writeFileSync(file, JSON.stringify(content));
    return buildRegistry({ defaultModelPath: path.join(dir, 'default.gguf'), configPath: file, modelFiles: [] });
  };

  test('an entry replaces the default of the same id and gets defaults for what it leaves out', () => {
    const reg = build({
      models: [{ id: 'mistral-small-latest', engine: 'openai', url: 'http://127.0.0.1:9/v1/', fim_template: '<pre>{prefix}<suf>{suffix}<mid>' }],
    });
    const m = reg.get('mistral-small-latest')!;
    assert.equal(m.engine, 'openai');
    assert.equal(m.url, 'http://127.0.0.1:9/v1');
    assert.equal(m.max_in_flight, 64);
    assert.deepEqual(m.endpoints, ['/v1/chat/completions']);
    assert.equal(m.fim_template, '<pre>{prefix}<suf>{suffix}<mid>');
    assert.equal(reg.get('mistral-embed')!.engine, 'llama');
    // The name now belongs to another model: its former siblings no longer list it.
    assert.deepEqual(reg.get('mistral-small-2603')!.aliases, []);
    assert.deepEqual([m.canonical_id, m.aliases, m.type], ['mistral-small-latest', [], 'chat']);
    assert.deepEqual(m.capabilities, {
      completion_chat: true,
      completion_fim: false,
      function_calling: true,
      structured_outputs: true,
      vision: false,
      reasoning: false,
      classification: false,
      moderation: false,
    });
  });

  test('an entry may state capabilities its endpoints cannot show, such as vision on an upstream', () => {
    const reg = build({
      models: [
        { id: 'vlm', engine: 'openai', url: 'http://127.0.0.1:9/v1', capabilities: { vision: true } },
        { id: 'guard', engine: 'echo', endpoints: ['/v1/moderations'] },
      ],
    });
    assert.equal(reg.get('vlm')!.capabilities!.vision, true);
    assert.equal(reg.get('vlm')!.capabilities!.completion_chat, true);
    assert.deepEqual(
      [reg.get('guard')!.type, reg.get('guard')!.capabilities!.classification, reg.get('guard')!.capabilities!.completion_chat],
      ['moderation', true, false],
    );
  });

  const rejected: [string, unknown, RegExp][] = [
    ['a misspelt model field', { models: [{ id: 'a', engine: 'echo', max_inflight: 4 }] }, /models\.0: Unrecognized key\(s\) in object: 'max_inflight'/],
    [
      'a misspelt capability',
      { models: [{ id: 'a', engine: 'echo', capabilities: { visoin: true } }] },
      /models\.0\.capabilities: Unrecognized key\(s\) in object: 'visoin'/,
    ],
    ['a misspelt top-level field', { model: [] }, /\(root\): Unrecognized key\(s\) in object: 'model'/],
    [
      'a FIM template without {suffix}',
      { models: [{ id: 'a', engine: 'openai', url: 'http://x/v1', fim_template: '{prefix}' }] },
      /models\.0\.fim_template: must contain both \{prefix\} and \{suffix\}/,
    ],
    [
      'a FIM template on an engine that does FIM natively',
      { models: [{ id: 'a', engine: 'mistral', url: 'http://x/v1', fim_template: '{prefix}{suffix}' }] },
      /models\.0\.fim_template: only engine "openai"/,
    ],
    ['an upstream engine without url', { models: [{ id: 'a', engine: 'openai' }] }, /models\.0\.url: engine "openai" needs "url"/],
    ['a llama entry without path', { models: [{ id: 'a', engine: 'llama' }] }, /models\.0\.path: engine "llama" needs "path"/],
  ];
  for (const [what, content, message] of rejected) {
    test(`${what} stops the start with the file and field named`, () => {
      assert.throws(
        () => build(content),
        (e: Error) => {
          assert.match(e.message, /^model config .*models-\d+\.json: /);
          assert.match(e.message, message);
          return true;
        },
      );
    });
  }
});
