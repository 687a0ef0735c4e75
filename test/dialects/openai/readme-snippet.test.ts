import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jsonl, startTestServer, type TestServer } from '../../helpers/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Inside the repository so `openai` resolves from its node_modules; a dot-directory tsc skips (as the SDK examples' test does). */
const TMP_ROOT = path.join(ROOT, 'test', '.tmp-examples');
const README_URL = "'http://127.0.0.1:8787/v1'";

/** The TypeScript block of the README's "OpenAI's Batch API" section, as written there. */
function readmeSnippet(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf("## OpenAI's Batch API"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(block, "README has a ts block in its OpenAI's Batch API section");
  return block[1]!;
}

describe("the README's OpenAI SDK snippet", () => {
  let server: TestServer;
  let dir = '';
  before(async () => {
    server = await startTestServer();
    fs.mkdirSync(TMP_ROOT, { recursive: true });
    dir = fs.mkdtempSync(path.join(TMP_ROOT, 'openai-readme-'));
  });
  after(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('runs unchanged but for the server URL and ends with a completed batch and its output', async () => {
    const code = readmeSnippet();
    assert.ok(code.includes(README_URL), 'the snippet names the default server URL');
    const file = path.join(dir, 'snippet.mts');
    // Only the URL changes; the result is printed so the test can check it.
    fs.writeFileSync(file, `${code.replace(README_URL, JSON.stringify(`${server.url}/v1`))}\nconsole.log(JSON.stringify({ status: batch.status, output }));\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: dir,
      env: { ...process.env, BATCHD_KEY: server.keys.a },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(exit, 0, err);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { status: string; output: string };
    assert.equal(result.status, 'completed');
    const [line] = jsonl(result.output);
    assert.equal(line!.custom_id, 'r0');
    assert.equal(line!.response.body.object, 'chat.completion');
  });
});
