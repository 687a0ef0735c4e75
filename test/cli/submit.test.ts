import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chatLines, jsonl, startTestServer, upstreamModels, waitFor, type TestServer } from '../helpers/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { tempDir } from '../helpers/tmp.js';
import { cliEnv, runCli, runCliInPty, screenLines, spawnCli } from './cli-runner.js';

/** A line the embedded engine refuses (400): it reads text only, and this asks it to look at an image. */
const imageLine = (id: string) => ({
  custom_id: id,
  body: { max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'https://example.com/a.png' }] }] },
});

const writeJsonl = (file: string, lines: unknown[]) => fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

/** The custom_ids of a result file, in file order. */
const idsOf = (file: string) => jsonl(fs.readFileSync(file, 'utf8')).map((l) => l.custom_id as string);

describe('batchd submit --wait', () => {
  let server: TestServer;
  let up: FakeUpstream;
  before(async () => {
    up = await startFakeUpstream();
    server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_UPSTREAM_TIMEOUT_MS: '60000' } });
  });
  after(async () => {
    await server.stop();
    await up.close();
  });

  test('through a pipe: plain progress lines, every line in the output file beside the input, exit 0', { timeout: 300_000 }, async (t) => {
    const dir = tempDir(t);
    const input = path.join(dir, 'requests.jsonl');
    const lines = chatLines(12, 'p');
    writeJsonl(input, lines);
    const r = await runCli(
      ['submit', input, '--model', 'mistral-small-latest', '--endpoint', '/v1/chat/completions', '--metadata', 'team=cli', '--wait'],
      cliEnv(server.url, server.keys.a),
    );
    assert.equal(r.code, 0, r.stderr);
    // Not a terminal: no escape sequences, only whole lines, the last one the final state.
    assert.doesNotMatch(r.stderr, /\x1b/);
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('job '));
    assert.ok(progress.length >= 1, r.stderr);
    for (const l of progress) assert.match(l, /^job [0-9a-f]{8} [A-Z_]+ \d+\/12 \(\d+%\) succeeded \d+ failed \d+ \| (-|[\d.]+) req\/s \| ETA \S+/);
    assert.match(progress.at(-1)!, /^job [0-9a-f]{8} SUCCESS 12\/12 \(100%\) succeeded 12 failed 0 /);
    assert.equal(new Set(progress).size, progress.length, 'one line per change');
    assert.match(r.stderr, /^uploading requests\.jsonl: .* \(100%\)$/m);

    const jobId = /Created job (\S+)/.exec(r.stdout)![1]!;
    const job = (await server.request('GET', `/v1/batch/jobs/${jobId}`)).body;
    assert.deepEqual([job.status, job.succeeded_requests, job.failed_requests, job.metadata], ['SUCCESS', 12, 0, { team: 'cli' }]);
    assert.match(r.stdout, new RegExp(`Job ${jobId} SUCCESS in \\d+s: 12 of 12 succeeded, 0 failed`));

    const outputFile = path.join(dir, 'requests.output.jsonl');
    assert.match(r.stdout, new RegExp(`Output: ${outputFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(12 lines`));
    assert.deepEqual(
      idsOf(outputFile),
      lines.map((l) => l.custom_id),
    );
    assert.ok(jsonl(fs.readFileSync(outputFile, 'utf8')).every((l) => l.response.status_code === 200 && l.error === null));
    assert.ok(!fs.existsSync(path.join(dir, 'requests.errors.jsonl')), 'no error file when no line failed');
    assert.match(r.stdout, /Errors: none/);
  });

  test('in a terminal: a live bar with the counts; a refused line goes to --errors and the exit code is 2', { timeout: 300_000 }, async (t) => {
    const dir = tempDir(t);
    const input = path.join(dir, 'mixed.jsonl');
    const lines = [...chatLines(5, 'ok'), imageLine('refused'), ...chatLines(3, 'more')];
    writeJsonl(input, lines);
    const output = path.join(dir, 'out', 'results.jsonl');
    const errors = path.join(dir, 'failed.jsonl');
    fs.mkdirSync(path.dirname(output));
    const r = await runCliInPty(
      ['submit', input, '--model', 'mistral-small-latest', '--wait', '--output', output, '--errors', errors],
      cliEnv(server.url, server.keys.a),
    );
    assert.equal(r.code, 2, r.output);
    const screen = screenLines(r.output);
    // The final frame of the bar, on an 80-column terminal, with every count.
    const frames = screen.filter((l) => /^[A-Z_]+ .* \| \d+\/9 \|/.test(l));
    assert.ok(frames.length >= 1, r.output);
    for (const f of frames) assert.ok(f.length <= 80, `a frame fits 80 columns: ${f}`);
    assert.match(frames.at(-1)!, /^SUCCESS \S+ 100% \| 9\/9 \| ok 8 \| failed 1 \| [\d.-]+ req\/s \| ETA 0s$/);
    assert.ok(r.output.includes('\x1b['), 'the bar redraws in place with escape sequences');
    assert.ok(
      screen.some((l) => /^uploading mixed\.jsonl \S+ 100% \| .* of /.test(l)),
      'the upload has its byte bar',
    );
    assert.ok(screen.some((l) => /SUCCESS in \d+s: 8 of 9 succeeded, 1 failed/.test(l)));

    assert.deepEqual(
      idsOf(output),
      lines.map((l) => l.custom_id).filter((id) => id !== 'refused'),
    );
    const failed = jsonl(fs.readFileSync(errors, 'utf8'));
    assert.deepEqual(
      failed.map((l) => l.custom_id),
      ['refused'],
    );
    assert.equal(failed[0]!.response.status_code, 400);
    assert.match(failed[0]!.response.body.message, /vision/);
    assert.ok(!fs.existsSync(path.join(dir, 'mixed.output.jsonl')), 'the default paths are not written when --output/--errors are given');
    assert.ok(!fs.readdirSync(path.dirname(output)).some((f) => f.endsWith('.part')), 'no partial download left behind');
  });

  test('a job cancelled while it waits: lines finished so far downloaded, the rest batch_cancelled, exit 3', { timeout: 300_000 }, async (t) => {
    const dir = tempDir(t);
    const input = path.join(dir, 'slow.jsonl');
    const lines = chatLines(8, 'c');
    writeJsonl(input, lines);
    // The upstream answers the first three lines and holds the others until they are cancelled.
    up.setFault((call) => (Number(call.text.split(' ')[1]) >= 3 ? { kind: 'hang' } : null));
    t.after(() => up.setFault(null));
    const env = cliEnv(server.url, server.keys.a);
    const waiting = spawnCli(['submit', input, '--model', 'up-openai', '--wait', '--json'], env);
    const jobId = await waitFor(
      'the job to run its first lines',
      async () => {
        const { body } = await server.request('GET', '/v1/batch/jobs?model=up-openai&status=RUNNING');
        const job = body.data?.find((j: { succeeded_requests: number }) => j.succeeded_requests === 3);
        return job && up.stats.inFlight > 0 ? (job.id as string) : undefined;
      },
      120_000,
    );
    // Ctrl-C stops a watcher, not the job.
    const watcher = spawnCli(['jobs', 'watch', jobId], env);
    await waitFor('watch to print its first line', async () => (watcher.soFar().stderr.startsWith('job ') ? true : undefined), 120_000);
    watcher.proc.kill('SIGINT');
    const interrupted = await watcher.done;
    assert.equal(interrupted.code, 130, interrupted.stderr);
    assert.match(
      interrupted.stderr,
      new RegExp(`^batchd: stopped following job ${jobId}; it keeps running \\(batchd jobs watch ${jobId}, batchd jobs cancel ${jobId}\\)$`, 'm'),
    );
    assert.equal((await server.request('GET', `/v1/batch/jobs/${jobId}`)).body.status, 'RUNNING');

    const cancel = await runCli(['jobs', 'cancel', jobId], env);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, new RegExp(`^Job ${jobId} is (CANCELLATION_REQUESTED|CANCELLED) \\(\\d+/8 done\\)$`, 'm'));

    const r = await waiting.done;
    assert.equal(r.code, 3, r.stderr + r.stdout);
    // With --json, stdout is the final job object alone.
    const final = JSON.parse(r.stdout);
    assert.deepEqual([final.id, final.status, final.succeeded_requests, final.failed_requests], [jobId, 'CANCELLED', 3, 5]);
    assert.match(r.stderr.split('\n').filter(Boolean).at(-1)!, /^job [0-9a-f]{8} CANCELLED 8\/8 \(100%\) succeeded 3 failed 5 /);
    assert.deepEqual(idsOf(path.join(dir, 'slow.output.jsonl')), ['c0', 'c1', 'c2']);
    const cancelled = jsonl(fs.readFileSync(path.join(dir, 'slow.errors.jsonl'), 'utf8'));
    assert.deepEqual(
      cancelled.map((l) => l.custom_id),
      ['c3', 'c4', 'c5', 'c6', 'c7'],
    );
    assert.ok(cancelled.every((l) => l.error.code === 'batch_cancelled'));
  });
});
