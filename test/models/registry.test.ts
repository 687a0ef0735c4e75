import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildRegistry } from '../../src/models/registry.js';
import os from 'node:os';

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
    const reg = build({ models: [{ id: 'mistral-small-latest', engine: 'openai', url: 'http://127.0.0.1:9/v1/', fim_template: '<pre>{prefix}<suf>{suffix}<mid>' }] });
    const m = reg.get('mistral-small-latest')!;
    assert.equal(m.engine, 'openai');
    assert.equal(m.url, 'http://127.0.0.1:9/v1');
    assert.equal(m.max_in_flight, 64);
    assert.deepEqual(m.endpoints, ['/v1/chat/completions']);
    assert.equal(m.fim_template, '<pre>{prefix}<suf>{suffix}<mid>');
    assert.equal(reg.get('mistral-embed')!.engine, 'llama');
  });

  const rejected: [string, unknown, RegExp][] = [
    ['a misspelt model field', { models: [{ id: 'a', engine: 'echo', max_inflight: 4 }] }, /models\.0: Unrecognized key\(s\) in object: 'max_inflight'/],
    ['a misspelt top-level field', { model: [] }, /\(root\): Unrecognized key\(s\) in object: 'model'/],
    ['a FIM template without {suffix}', { models: [{ id: 'a', engine: 'openai', url: 'http://x/v1', fim_template: '{prefix}' }] }, /models\.0\.fim_template: must contain both \{prefix\} and \{suffix\}/],
    ['a FIM template on an engine that does FIM natively', { models: [{ id: 'a', engine: 'mistral', url: 'http://x/v1', fim_template: '{prefix}{suffix}' }] }, /models\.0\.fim_template: only engine "openai"/],
    ['an upstream engine without url', { models: [{ id: 'a', engine: 'openai' }] }, /models\.0\.url: engine "openai" needs "url"/],
    ['a llama entry without path', { models: [{ id: 'a', engine: 'llama' }] }, /models\.0\.path: engine "llama" needs "path"/],
  ];
  for (const [what, content, message] of rejected) {
    test(`${what} stops the start with the file and field named`, () => {
      assert.throws(() => build(content), (e: Error) => {
        assert.match(e.message, /^model config .*models-\d+\.json: /);
        assert.match(e.message, message);
        return true;
      });
    });
  }
});
