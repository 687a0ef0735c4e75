import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mistralCatalogue, parseCatalogue } from '../../src/models/catalogue.js';

const raw = JSON.parse(fs.readFileSync(new URL('../../src/models/mistral-models.json', import.meta.url), 'utf8')) as Record<string, any>;

describe("Mistral's model catalogue (src/models/mistral-models.json)", () => {
  const catalogue = mistralCatalogue();

  test("cites Mistral's public docs repository at a commit", () => {
    assert.equal(catalogue.source.repository, 'https://github.com/mistralai/platform-docs-public');
    assert.match(catalogue.source.commit, /^[0-9a-f]{40}$/);
    assert.ok((catalogue.source.paths as string[]).includes('src/schema/models/models/*.ts'));
    for (const m of catalogue.models) assert.match(m.docs_card, /^src\/schema\/models\/models\/[a-z0-9-]+\.ts$/, m.id);
  });

  test("every current chat, code, reasoning, vision, embedding and moderation model is listed under Mistral's names", () => {
    const expected: [string, string[]][] = [
      ['mistral-medium-3-5', ['mistral-medium-3', 'mistral-medium-latest']],
      ['mistral-small-2603', ['mistral-small-latest']],
      ['mistral-large-2512', ['mistral-large-latest']],
      ['ministral-8b-2512', ['ministral-8b-latest']],
      ['ministral-14b-2512', ['ministral-14b-latest']],
      ['ministral-3b-2512', ['ministral-3b-latest']],
      ['codestral-2508', ['codestral-latest']],
      ['magistral-medium-2509', ['magistral-medium-latest']],
      ['magistral-small-2509', ['magistral-small-latest']],
      ['devstral-2512', ['devstral-latest', 'devstral-medium-latest']],
      ['mistral-embed-2312', ['mistral-embed']],
      ['codestral-embed-2505', ['codestral-embed']],
    ];
    for (const [id, aliases] of expected) {
      const m = catalogue.get(id);
      assert.ok(m, id);
      assert.equal(m.id, id);
      for (const a of aliases) assert.equal(catalogue.get(a)?.id, id, a);
    }
  });

  test('OCR, audio and text-to-speech models and retired models are left out', () => {
    for (const m of catalogue.models) {
      assert.doesNotMatch([m.id, ...m.aliases].join(' '), /ocr|voxtral|tts/, m.id);
      assert.notEqual(m.status as string, 'Retired', m.id);
    }
    for (const retired of ['open-mistral-7b', 'mistral-large-2407', 'codestral-2501', 'open-codestral-mamba'])
      assert.equal(catalogue.get(retired), undefined, retired);
  });

  test("the legacy names in Mistral's SDK examples map where Mistral maps them, each with its evidence", () => {
    const expected: Record<string, string> = {
      'mistral-tiny': 'open-mistral-nemo-2407',
      'mistral-tiny-latest': 'open-mistral-nemo-2407',
      'open-mistral-nemo': 'open-mistral-nemo-2407',
      'pixtral-12b': 'pixtral-12b-2409',
      'mistral-moderation-latest': 'mistral-moderation-2603',
    };
    for (const [alias, id] of Object.entries(expected)) assert.equal(catalogue.get(alias)?.id, id, alias);
    for (const extra of raw.extra_aliases as { alias: string; target: string; evidence: string }[]) {
      assert.equal(catalogue.get(extra.alias)?.id, extra.target, extra.alias);
      assert.ok(extra.evidence.length > 40, extra.alias);
    }
  });

  test("capabilities are Mistral's: FIM on Codestral only, reasoning on Magistral and Medium 3.5, vision on Pixtral", () => {
    const fim = catalogue.models.filter((m) => m.capabilities.completion_fim).map((m) => m.id);
    assert.deepEqual(fim, ['codestral-2508']);
    for (const id of ['magistral-medium-latest', 'magistral-small-latest', 'mistral-medium-3-5'])
      assert.equal(catalogue.get(id)?.capabilities.reasoning, true, id);
    assert.equal(catalogue.get('mistral-small-latest')?.capabilities.reasoning, false);
    assert.equal(catalogue.get('pixtral-12b')?.capabilities.vision, true);
    assert.equal(catalogue.get('codestral-latest')?.capabilities.vision, false);
    for (const id of ['mistral-moderation-2603', 'mistral-moderation-2411']) {
      const m = catalogue.get(id)!;
      assert.deepEqual(
        [m.type, m.capabilities.classification, m.capabilities.moderation, m.capabilities.completion_chat],
        ['moderation', true, true, false],
        id,
      );
    }
  });

  test('embedding models carry their dimension; contexts, prices and deprecations are read from the cards', () => {
    assert.equal(catalogue.get('mistral-embed')?.embedding_dimension, 1024);
    assert.equal(catalogue.get('codestral-embed')?.embedding_dimension, 1536);
    for (const m of catalogue.models) assert.equal(m.embedding_dimension !== undefined, m.type === 'embedding', m.id);
    const medium = catalogue.get('mistral-medium-latest')!;
    assert.deepEqual([medium.max_context_length, medium.input_price_per_mtok, medium.output_price_per_mtok, medium.deprecation], [262144, 1.5, 7.5, null]);
    assert.deepEqual(catalogue.get('pixtral-12b')?.deprecation, {
      deprecated_on: '2025-12-02',
      retires_on: '2025-12-31',
      replacement: 'ministral-14b-2512',
      replacement_name: 'Ministral 3 14B',
    });
    assert.equal(catalogue.get('magistral-small-latest')?.deprecation?.deprecated_on, '2026-04-30');
  });

  test('a name given to two models is refused', () => {
    const doc = structuredClone(raw);
    doc.models[1].aliases.push(doc.models[0].id);
    assert.throws(() => parseCatalogue(doc), new RegExp(`${doc.models[0].id} names both`));
  });
});
