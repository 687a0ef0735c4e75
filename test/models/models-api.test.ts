import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Mistral } from '@mistralai/mistralai';
import type { BaseModelCard } from '@mistralai/mistralai/models/components';
import { mistralCatalogue } from '../../src/models/catalogue.js';
import { sdkError, startTestServer, type TestServer } from '../helpers/server.js';

const isBase = (m: { type?: unknown }): m is BaseModelCard => m.type === 'base';

/** GET /v1/models through the official SDK 2.x over a real socket: every card parses. */
describe('models API through the official SDK', () => {
  let server: TestServer;
  let client: Mistral;
  before(async () => {
    server = await startTestServer({
      worker: false,
      models: { models: [{ id: 'my-upstream', engine: 'openai', url: 'http://127.0.0.1:9/v1', capabilities: { vision: true } }] },
    });
    client = new Mistral({ apiKey: server.keys.a, serverURL: server.url });
  });
  after(() => server.stop());

  test('models.list has a card for every Mistral id and alias, and the SDK parses each as a base card', async () => {
    const list = await client.models.list();
    const cards = (list.data ?? []).filter(isBase);
    assert.equal(cards.length, list.data?.length);
    const byId = new Map(cards.map((c) => [c.id, c]));
    for (const m of mistralCatalogue().models) {
      const all = [m.id, ...m.aliases];
      for (const name of all) {
        const card = byId.get(name);
        assert.ok(card, name);
        assert.deepEqual([card.name, card.ownedBy, card.object, card.type], [m.id, 'mistralai', 'model', 'base'], name);
        assert.deepEqual(
          card.aliases,
          all.filter((n) => n !== name),
          name,
        );
        // The embedded engine's context (BATCHD_LLAMA_CONTEXT), not Mistral's.
        assert.equal(card.maxContextLength, server.ctx.registry.get(name)?.context_length, name);
        assert.ok(card.maxContextLength < m.max_context_length || m.max_context_length <= 8192, name);
      }
    }
    assert.equal(byId.get('my-upstream')?.capabilities.vision, true);
    assert.equal(byId.get('my-upstream')?.ownedBy, 'batchd');
  });

  test("models.retrieve by an alias: truthful capabilities, Mistral's deprecation and replacement", async () => {
    const card = await client.models.retrieve({ modelId: 'pixtral-12b' });
    assert.ok(isBase(card));
    assert.equal(card.id, 'pixtral-12b');
    assert.equal(card.name, 'pixtral-12b-2409');
    assert.deepEqual(card.aliases, ['pixtral-12b-2409', 'pixtral-12b-latest']);
    assert.equal(card.capabilities.vision, false);
    assert.equal(card.capabilities.completionChat, true);
    assert.equal(card.capabilities.functionCalling, true);
    assert.equal(card.deprecation?.toISOString(), '2025-12-31T00:00:00.000Z');
    assert.equal(card.deprecationReplacementModel, 'ministral-14b-2512');
    assert.equal(card.defaultModelTemperature, 0.3);
  });

  test('codestral offers FIM, magistral reasoning, the moderation model classification, the embedding model neither', async () => {
    const get = async (modelId: string) => {
      const card = await client.models.retrieve({ modelId });
      assert.ok(isBase(card));
      return card.capabilities;
    };
    const codestral = await get('codestral-latest');
    assert.deepEqual([codestral.completionChat, codestral.completionFim, codestral.reasoning], [true, true, false]);
    const magistral = await get('magistral-medium-latest');
    assert.deepEqual([magistral.completionFim, magistral.reasoning], [false, true]);
    const moderation = await get('mistral-moderation-latest');
    assert.deepEqual([moderation.completionChat, moderation.classification, moderation.moderation], [false, true, true]);
    const embed = await get('mistral-embed');
    assert.deepEqual([embed.completionChat, embed.classification, embed.vision], [false, false, false]);
    const raw = await server.request('GET', '/v1/models/mistral-embed');
    assert.equal(raw.body.batchd.embedding_dimension, 1024);
    assert.equal(raw.body.batchd.mistral_max_context_length, 8192);
    assert.deepEqual(raw.body.batchd.endpoints, ['/v1/embeddings']);
  });

  test('an unknown model id is a 404', async () => {
    await assert.rejects(client.models.retrieve({ modelId: 'gpt-4o' }), sdkError(404));
  });
});
