import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { z } from 'zod';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { registerOpenApi } from '../../src/api/openapi.js';
import { documentedAs, serializerCompiler, validatorCompiler, type ZodTypeProvider } from '../../src/api/zod-provider.js';
import type { AppContext } from '../../src/api/context.js';

type Doc = Record<string, any>;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('GET /openapi.json', () => {
  let server: TestServer;
  let doc: Doc;
  before(async () => {
    server = await startTestServer({ worker: false });
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200, 'served without a key');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = (await res.json()) as Doc;
  });
  after(() => server?.stop());

  const op = (path: string, method: string) => {
    const o = doc.paths[path]?.[method];
    assert.ok(o, `${method.toUpperCase()} ${path} is documented`);
    return o as Doc;
  };
  const param = (o: Doc, name: string, where: string) => (o.parameters ?? []).find((p: Doc) => p.name === name && p.in === where) as Doc | undefined;

  test('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.deepEqual(result.errors, undefined);
    assert.equal(result.valid, true);
    assert.equal(validator.version, '3.1');
    assert.equal(doc.info.title, 'batchd');
    assert.deepEqual(doc.servers, [{ url: '/' }]);
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKeyHeader', 'bearerAuth']);
    assert.deepEqual(doc.components.securitySchemes.apiKeyHeader, {
      ...doc.components.securitySchemes.apiKeyHeader,
      type: 'apiKey',
      in: 'header',
      name: 'x-api-key',
    });
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
  });

  test('documents the key routes with their parameters and bodies, from the route schemas', () => {
    const upload = op('/v1/files', 'post');
    const form = upload.requestBody.content['multipart/form-data'].schema;
    assert.deepEqual(form.required, ['file']);
    assert.deepEqual(form.properties.purpose.enum, ['batch', 'fine-tune', 'ocr']);
    const list = op('/v1/files', 'get');
    assert.ok(param(list, 'page', 'query') && param(list, 'page_size', 'query') && param(list, 'purpose', 'query'));
    assert.equal(param(list, 'page', 'query')!.required, false);

    const create = op('/v1/batch/jobs', 'post').requestBody;
    assert.equal(create.required, true);
    const body = create.content['application/json'].schema;
    assert.deepEqual(body.required, ['endpoint']);
    assert.equal(body.additionalProperties, false, 'a strict schema refuses extra fields');
    assert.deepEqual(body.properties.timeout_hours, { type: 'integer', minimum: 1, maximum: 168, default: 24 });
    assert.ok(body.properties.input_files && body.properties.model && body.properties.metadata);
    op('/v1/batch/jobs', 'get');

    const get = op('/v1/batch/jobs/{job_id}', 'get');
    assert.deepEqual(param(get, 'job_id', 'path'), { name: 'job_id', in: 'path', required: true, schema: { type: 'string' } });
    assert.ok(param(get, 'inline', 'query'));
    assert.ok(param(op('/v1/batch/jobs/{job_id}', 'delete'), 'job_id', 'path'));
    assert.ok(param(op('/v1/batch/jobs/{job_id}/cancel', 'post'), 'job_id', 'path'));

    assert.ok(op('/v1/chat/completions', 'post').requestBody.content['application/json']);
    assert.ok(param(op('/v1/models/{model_id}', 'get'), 'model_id', 'path'));
    op('/v1/models', 'get');
  });

  test('every operation has a unique operationId, a tag, its path parameters and a default error response', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries<Doc>(doc.paths)) {
      assert.ok(!path.includes(':') && !path.includes('*'), path);
      for (const method of METHODS.filter((m) => item[m])) {
        const o = item[method] as Doc;
        assert.ok(!ids.has(o.operationId), `duplicate operationId ${o.operationId}`);
        ids.add(o.operationId);
        assert.equal(o.tags.length, 1);
        assert.ok(
          doc.tags.some((t: Doc) => t.name === o.tags[0]),
          `tag ${o.tags[0]} is declared`,
        );
        const declared = (o.parameters ?? []).filter((p: Doc) => p.in === 'path').map((p: Doc) => p.name);
        assert.deepEqual(
          declared,
          [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]),
          `${method} ${path}`,
        );
        assert.match(o.responses.default.content['application/json'].schema.$ref, /^#\/components\/schemas\/\w*Error$/);
      }
    }
    assert.ok(ids.size >= 25, `${ids.size} operations`);
  });

  test('what it marks public answers without a key, and everything else refuses one with 401', async () => {
    const uuid = '3f1c7a52-8d7e-4b8e-9c0a-5e2f6d1b4a90';
    for (const [path, item] of Object.entries<Doc>(doc.paths)) {
      for (const method of METHODS.filter((m) => item[m])) {
        const secured = !(Array.isArray(item[method].security) && item[method].security.length === 0);
        const url = path.replace(/\{[^}]+\}/g, uuid);
        const res = await fetch(`${server.url}${url}`, { method: method.toUpperCase(), headers: { 'anthropic-version': '2023-06-01' } });
        await res.body?.cancel();
        if (secured) assert.equal(res.status, 401, `${method.toUpperCase()} ${path} without a key`);
        else assert.notEqual(res.status, 401, `${method.toUpperCase()} ${path} is public`);
      }
    }
  });

  test('the error schemas describe the bodies the server really sends', async () => {
    const ajv = new Ajv2020.default({ strict: false });
    const mistral = ajv.compile(doc.components.schemas.Error);
    const missing = await server.request('GET', '/v1/batch/jobs/3f1c7a52-8d7e-4b8e-9c0a-5e2f6d1b4a90');
    assert.equal(missing.status, 404);
    assert.ok(mistral(missing.body), JSON.stringify(mistral.errors));
    const invalid = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'x', extra: 1 });
    assert.equal(invalid.status, 422);
    assert.ok(mistral(invalid.body), JSON.stringify(mistral.errors));
    assert.ok(!mistral({ message: 'not the shape' }), 'the schema can fail');
    if (doc.paths['/v1/messages/batches/{id}']) {
      const anthropic = ajv.compile(doc.components.schemas.AnthropicError);
      const res = await fetch(`${server.url}/v1/messages/batches/msgbatch_0`, { headers: { ...server.auth(), 'anthropic-version': '2023-06-01' } });
      assert.ok(res.status >= 400);
      assert.ok(anthropic(await res.json()), JSON.stringify(anthropic.errors));
    }
  });
});

describe('routes registered after the document exists', () => {
  test('appear with their zod schemas, declared responses and documented shapes', async () => {
    const app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    registerOpenApi(app, { config: { publicUrl: 'https://batch.example' } } as AppContext);
    const rawQuery = documentedAs(
      z.custom<Record<string, unknown>>().transform((q) => ({ after: String(q.after ?? '') })),
      z.object({ after: z.string().optional().describe('a cursor'), limit: z.number().int().min(1).max(100).default(20) }),
    );
    await app.register(async (scope) => {
      scope.withTypeProvider<ZodTypeProvider>().post(
        '/v1/widgets/:widget_id(^\\w+)/spin',
        {
          schema: {
            params: z.object({ widget_id: z.string().min(3) }),
            querystring: rawQuery,
            body: z.object({ turns: z.number().int(), pair: z.tuple([z.string(), z.number()]).optional() }).strict(),
            response: { 200: z.object({ spun: z.number() }).describe('How far it spun') },
          },
        },
        async (req) => ({ spun: req.body.turns, ignored: 'a response schema does not reshape the reply' }),
      );
      scope.get('/v1/hidden', { schema: { hide: true } as object }, async () => ({}));
    });
    const spin = await app.inject({ method: 'POST', url: '/v1/widgets/abc/spin', payload: { turns: 3 } });
    assert.deepEqual(spin.json(), { spun: 3, ignored: 'a response schema does not reshape the reply' });

    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;
    await app.close();
    assert.equal((await new Validator().validate(doc)).valid, true);
    assert.deepEqual(doc.servers, [{ url: 'https://batch.example' }]);
    assert.equal(doc.paths['/v1/hidden'], undefined);
    const o = doc.paths['/v1/widgets/{widget_id}/spin'].post as Doc;
    assert.equal(o.operationId, 'postV1WidgetsWidgetIdSpin');
    assert.deepEqual(o.tags, ['inference']);
    assert.deepEqual(o.parameters, [
      { name: 'widget_id', in: 'path', required: true, schema: { type: 'string', minLength: 3 } },
      { name: 'after', in: 'query', required: false, schema: { type: 'string' }, description: 'a cursor' },
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
    ]);
    const body = o.requestBody.content['application/json'].schema;
    assert.deepEqual(body.properties.pair, { type: 'array', minItems: 2, maxItems: 2, prefixItems: [{ type: 'string' }, { type: 'number' }] });
    assert.deepEqual(o.responses['200'], {
      description: 'How far it spun',
      content: {
        'application/json': {
          schema: { type: 'object', properties: { spun: { type: 'number' } }, required: ['spun'], description: 'How far it spun' },
        },
      },
    });
  });
});
