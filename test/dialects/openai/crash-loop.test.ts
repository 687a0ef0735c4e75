import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../../helpers/fake-upstream.js';
import { killHard, startChildServer, type ChildServer } from '../../helpers/child-process.js';
import { jsonl, upstreamModels } from '../../helpers/server.js';
import { openAiChatLines } from './helpers.js';

/** BATCHD_RELIABILITY_FULL=1 runs more lines and crashes, as test/reliability/crash-loop.test.ts does. */
const FULL = process.env.BATCHD_RELIABILITY_FULL === '1';
const LINES = FULL ? 5_000 : 1_000;
const CRASHES = FULL ? 20 : 5;
const KEY = 'key-a';

/** The crash loop of test/reliability/crash-loop.test.ts, once, with a batch created and read through OpenAI's API. */
describe(`crash loop with an OpenAI batch: kill -9 ${CRASHES} times until a ${LINES}-line batch ends`, () => {
  let up: FakeUpstream;
  let dir = '';
  let server: ChildServer | null = null;
  let args: string[] = [];
  const env = { BATCHD_API_KEYS: `a:${KEY}`, BATCHD_TICK_MS: '50', BATCHD_POLL_MS: '50', BATCHD_CHUNK_LINES: '100', BATCHD_VALIDATION_THREADS: '0' };
  const start = async () => (server = await startChildServer(args, env));
  // A client per process: each restart listens on a new port. No retries: a call to a killed server fails.
  const client = () => new OpenAI({ apiKey: KEY, baseURL: `${server!.url}/v1`, maxRetries: 0 });
  before(async () => {
    up = await startFakeUpstream({ latencyMs: 3 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-openai-crash-'));
    fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify(upstreamModels(up.url, { max_in_flight: 8 })));
    args = ['serve', '--port', '0', '--data-dir', path.join(dir, 'data'), '--config', path.join(dir, 'models.json')];
  });
  after(async () => {
    if (server) await killHard(server.proc);
    await up?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every line ends exactly once in OpenAI’s result files, and the counts agree', async () => {
    // 1 in 10 lines fails at the upstream, so both files are exercised.
    up.setFault((c) => (c.text.endsWith('7') ? { kind: 'status', status: 400 } : null));
    await start();
    const input = path.join(dir, 'input.jsonl');
    fs.writeFileSync(
      input,
      openAiChatLines(LINES, 'up-openai', 'c')
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const file = await client().files.create({ file: fs.createReadStream(input), purpose: 'batch' });
    const created = await client().batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    let batch = created;
    let crashes = 0;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
      if (crashes < CRASHES) {
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
        await killHard(server!.proc);
        crashes++;
        await start();
      } else {
        await new Promise((r) => setTimeout(r, 100));
      }
      batch = await client().batches.retrieve(created.id);
    }
    assert.equal(batch.status, 'completed');
    assert.ok(crashes >= 1, 'the batch ran across at least one kill -9');
    const lines = async (id: string | null | undefined) => (id ? jsonl(await (await client().files.content(id)).text()) : []);
    const output = await lines(batch.output_file_id);
    const errors = await lines(batch.error_file_id);
    const ids = [...output, ...errors].map((l) => l.custom_id as string);
    assert.equal(ids.length, LINES, 'one record per line');
    assert.equal(new Set(ids).size, LINES, 'no line twice');
    assert.deepEqual(batch.request_counts, { total: LINES, completed: output.length, failed: errors.length });
    assert.equal(errors.length, LINES / 10);
    assert.ok(output.every((l) => /^batch_req_/.test(l.id) && l.response.status_code === 200 && l.response.body.object === 'chat.completion'));
    assert.ok(errors.every((l) => l.response.status_code === 400 && l.error === null));
  });
});
