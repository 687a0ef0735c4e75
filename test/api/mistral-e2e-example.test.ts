import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createClient, generateRandomString, percentDone, pythonJsonDumps, runExample } from '../../src/cli/demo.js';
import { text } from 'node:stream/consumers';
import { jsonl, startTestServer, type TestServer } from '../helpers/server.js';

/** A seeded generator (mulberry32), so a failing run can be repeated. */
function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The docs' input line, as Python's json.dumps writes it: ", " and ": " separators, keys in this order. */
const INPUT_LINE = /^\{"custom_id": "(\d+)", "body": \{"max_tokens": (\d+), "messages": \[\{"role": "user", "content": "([a-z](?: [a-z])*)"\}\]\}\}$/;

describe('the ported example is the Python, detail for detail', () => {
  test("percentDone prints Python's round(done / total, 4) * 100", () => {
    // Expected values printed by CPython 3 for the same expressions.
    const python: [number, number, string][] = [
      [0, 100, '0.0'],
      [100, 100, '100.0'],
      [1, 3, '33.33'],
      [2, 3, '66.67'],
      [7, 100, '7.000000000000001'],
      [29, 100, '28.999999999999996'],
      [57, 100, '56.99999999999999'],
      [1, 32, '3.1199999999999997'],
      [3, 32, '9.379999999999999'],
      [5, 8, '62.5'],
      [1, 20000, '0.01'],
      [1, 80000, '0.0'],
    ];
    for (const [done, total, printed] of python) assert.equal(percentDone(done, total), printed, `${done}/${total}`);
  });

  test('generate_random_string: randrange(100, 5000) letters a-z joined by single spaces', () => {
    const random = seeded(7);
    for (let i = 0; i < 200; i++) {
      const s = generateRandomString(100, 5000, random);
      assert.match(s, /^[a-z]( [a-z])*$/);
      const letters = (s.length + 1) / 2;
      assert.ok(letters >= 100 && letters <= 4999, String(letters));
    }
    // The bounds of randrange: the lowest draw gives 100 letters, the highest 4999.
    assert.equal((generateRandomString(100, 5000, () => 0).length + 1) / 2, 100);
    assert.equal((generateRandomString(100, 5000, () => 0.9999999999).length + 1) / 2, 4999);
  });

  test('json.dumps separators and escapes', () => {
    assert.equal(
      pythonJsonDumps({ custom_id: '0', body: { max_tokens: 5, messages: [{ role: 'user', content: 'a b' }] } }),
      '{"custom_id": "0", "body": {"max_tokens": 5, "messages": [{"role": "user", "content": "a b"}]}}',
    );
    assert.equal(pythonJsonDumps('é\u007f\u0001"'), '"\\u00e9\\u007f\\u0001\\""');
  });
});

/**
 * Mistral's end-to-end batch example (docs, Python V2 tab), ported in src/cli/demo.ts and
 * run here exactly as `npm run demo` runs it: 100 random prompts of 100–4999 letters with
 * max_tokens 10–1000, through the official SDK, on the embedded default model.
 */
describe("Mistral's end-to-end batch example on the embedded default model", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  for (const [model, seed] of [
    ['codestral-latest', 1],
    ['mistral-small-latest', 2],
  ] as const) {
    test(`100 samples on ${model}: every line SUCCEEDED and the output file has 100 lines`, { timeout: 600_000 }, async () => {
      const dir = path.join(server.dataDir, `example-${model}`);
      fs.mkdirSync(dir);
      const successPath = path.join(dir, 'output.jsonl');
      const errorPath = path.join(dir, 'error.jsonl');
      const printed: string[] = [];
      const started = Date.now();
      const job = await runExample(
        createClient(server.keys.a, server.url),
        { numSamples: 100, successPath, errorPath, model },
        (l) => printed.push(l),
        seeded(seed),
      );
      const seconds = (Date.now() - started) / 1000;
      console.log(`${model}: ${job.status} in ${seconds.toFixed(1)} s, ${job.succeededRequests} succeeded, ${job.failedRequests} failed`);

      // Why lines failed, grouped (numbers masked), so a failure says what went wrong.
      const errors = fs.existsSync(errorPath) ? jsonl(fs.readFileSync(errorPath, 'utf8')) : [];
      const reasons = new Map<string, number>();
      for (const e of errors) {
        const why = `${e.response?.status_code ?? '-'} ${e.error?.code ?? ''}: ${String(e.error?.message ?? e.response?.body?.message ?? '').replace(/\d+/g, 'N')}`;
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      }
      const summary = [...reasons].map(([why, n]) => `${n}× ${why}`).join('\n');
      assert.deepEqual(
        [job.status, job.totalRequests, job.succeededRequests, job.failedRequests],
        ['SUCCESS', 100, 100, 0],
        `the job ended ${job.status} with ${job.failedRequests} failed lines:\n${summary}`,
      );

      const output = jsonl(fs.readFileSync(successPath, 'utf8'));
      assert.equal(output.length, 100);
      assert.deepEqual(
        output.map((l) => l.custom_id).sort((a, b) => Number(a) - Number(b)),
        Array.from({ length: 100 }, (_, i) => String(i)),
      );
      assert.ok(output.every((l) => l.response.status_code === 200 && l.error === null && l.response.body.object === 'chat.completion'));
      assert.ok(!fs.existsSync(errorPath), 'no error file: error_file is None, so download_file writes nothing');

      // The input is the Python's: one json.dumps line per sample, custom_id str(idx), bounds as drawn there.
      // Read from the store, not over HTTP: a keep-alive connection that downloaded an uploaded
      // file currently holds server.stop() for ~70 s (fastify's keepAliveTimeout), see the report.
      const { blob_key } = await server.ctx.db.kysely.selectFrom('files').select('blob_key').where('id', '=', job.inputFiles[0]!).executeTakeFirstOrThrow();
      const input = (await text(server.ctx.blobs.read(blob_key))).split('\n');
      assert.equal(input.pop(), '', 'every line ends with "\\n"');
      assert.equal(input.length, 100);
      input.forEach((line, idx) => {
        const m = INPUT_LINE.exec(line);
        assert.ok(m, line.slice(0, 120));
        assert.equal(m[1], String(idx));
        assert.ok(Number(m[2]) >= 10 && Number(m[2]) <= 1000, m[2]);
        assert.ok(m[3]!.length >= 199 && m[3]!.length <= 9997, String(m[3]!.length));
      });

      // The printed lines, in the Python's order.
      assert.match(
        printed[0]!,
        new RegExp(
          `^Created input file id='${job.inputFiles[0]}' object='file' size_bytes=\\d+ created_at=\\d+ filename='file.jsonl' purpose='batch' sample_type='batch_request' .*num_lines=100`,
        ),
      );
      assert.deepEqual(printed.slice(-4), [
        `Batch job ${job.id} completed with status: SUCCESS`,
        `Job duration: ${job.completedAt! - job.createdAt} seconds`,
        `Downloading file to ${successPath}`,
        `Downloaded file to ${successPath}`,
      ]);
      const stats = printed.slice(1, -4);
      assert.ok(stats.length >= 4 && stats.length % 4 === 0, 'print_stats prints four lines per poll');
      for (let i = 0; i < stats.length; i += 4) {
        assert.equal(stats[i], 'Total requests: 100');
        assert.match(stats[i + 1]!, /^Failed requests: \d+$/);
        assert.match(stats[i + 2]!, /^Successful requests: \d+$/);
        assert.match(stats[i + 3]!, /^Percent done: \d+(\.\d+)?$/);
      }
      assert.deepEqual(stats.slice(-4), ['Total requests: 100', 'Failed requests: 0', 'Successful requests: 100', 'Percent done: 100.0']);
    });
  }
});
