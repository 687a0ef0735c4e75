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

/** The TypeScript blocks of the README's "OpenAI's Batch API" section, as written there (dedented where a list item holds one). */
function readmeSnippets(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf("## OpenAI's Batch API");
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/^( *)```ts\n([\s\S]*?)^ *```/gm)].map(([, indent, code]) => code!.replace(new RegExp(`^${indent}`, 'gm'), ''));
  assert.ok(blocks.length >= 2, "README has the batch and the responses ts blocks in its OpenAI's Batch API section");
  return blocks;
}

describe("the README's OpenAI SDK snippets", () => {
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

  /** Runs a snippet with only the URL changed (`tail` appended); its stdout. */
  async function run(name: string, code: string, tail = '') {
    assert.ok(code.includes(README_URL), 'the snippet names the default server URL');
    const file = path.join(dir, name);
    fs.writeFileSync(file, `${code.replace(README_URL, JSON.stringify(`${server.url}/v1`))}\n${tail}`);
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
    return out;
  }

  test('the batch snippet runs unchanged but for the server URL and ends with a completed batch and its output', async () => {
    // The result is printed so the test can check it.
    const out = await run('batch.mts', readmeSnippets()[0]!, 'console.log(JSON.stringify({ status: batch.status, output }));\n');
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { status: string; output: string };
    assert.equal(result.status, 'completed');
    const [line] = jsonl(result.output);
    assert.equal(line!.custom_id, 'r0');
    assert.equal(line!.response.body.object, 'chat.completion');
  });

  test('the responses snippet, after the batch snippet’s client, prints an answer whole and streamed', async () => {
    const [batch, responses] = readmeSnippets();
    const client = batch!.split('\n').filter((l) => l.startsWith('import OpenAI') || l.startsWith('const client'));
    assert.equal(client.length, 2);
    const out = await run('responses.mts', `${client.join('\n')}\n${responses!}`);
    const [whole, streamed] = out.split('\n');
    assert.ok(whole!.length > 0, 'output_text printed');
    assert.ok(streamed!.length > 0, 'deltas printed');
  });
});
