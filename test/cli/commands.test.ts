import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chatLines, startTestServer, upstreamModels, waitFor, type TestServer } from '../helpers/server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { tempDir } from '../helpers/tmp.js';
import { cliEnv, oneErrorLine, runCli, spawnCli } from './cli-runner.js';
import { startRecordingProxy } from './recording-proxy.js';

const writeJsonl = (file: string, lines: unknown[]) => fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

/** A job's final state; generous, since the CLI and the server share a busy machine with other tests. */
const finished = (server: TestServer, id: string) =>
  waitFor(
    `job ${id} to finish`,
    async () => {
      const { body } = await server.request('GET', `/v1/batch/jobs/${id}`);
      return ['SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED'].includes(body.status) ? body : undefined;
    },
    120_000,
  );

const refusedLine = {
  custom_id: 'refused',
  body: { max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'https://example.com/a.png' }] }] },
};

describe('batchd jobs, files and keys', () => {
  let server: TestServer;
  let up: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    up = await startFakeUpstream();
    server = await startTestServer({ models: upstreamModels(up.url), env: { BATCHD_UPSTREAM_TIMEOUT_MS: '60000' } });
    env = cliEnv(server.url, server.keys.a);
  });
  after(async () => {
    await server.stop();
    await up.close();
  });

  test('submit without --wait creates the job; jobs ls/get show it as a table and as JSON; cancel; retry its failed line', { timeout: 300_000 }, async (t) => {
    const dir = tempDir(t);
    const input = path.join(dir, 'in.jsonl');
    writeJsonl(input, [...chatLines(3, 'g'), refusedLine]);
    const created = await runCli(['submit', input, '--model', 'mistral-small-latest', '--metadata', 'run=ls', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const job = JSON.parse(created.stdout) as { id: string; total_requests: number };
    assert.equal(job.total_requests, 4);
    const done = await finished(server, job.id);
    assert.deepEqual([done.status, done.succeeded_requests, done.failed_requests], ['SUCCESS', 3, 1]);

    const other = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(2, 'x') });
    await finished(server, other.body.id);

    const table = await runCli(['jobs', 'ls'], env);
    assert.equal(table.code, 0, table.stderr);
    const row = table.stdout.split('\n').find((l) => l.includes(job.id))!;
    assert.match(
      row,
      /│ SUCCESS\s+│ mistral-small-latest\s+│ \/v1\/chat\/completions\s+│ 4\/4 100%\s+│ 3\s+│ 1\s+│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+│ \S+\s+│ run=ls\s+│/,
    );
    assert.ok(table.stdout.includes(other.body.id));

    const filtered = await runCli(['jobs', 'ls', '--model', 'up-openai', '--status', 'success', '--json'], env);
    assert.equal(filtered.code, 0, filtered.stderr);
    assert.deepEqual(
      (JSON.parse(filtered.stdout) as { data: { id: string }[] }).data.map((j) => j.id),
      [other.body.id],
    );

    const get = await runCli(['jobs', 'get', job.id], env);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /│ status\s+│ SUCCESS\s+│/);
    assert.match(get.stdout, /│ progress\s+│ 4\/4 100%\s+│/);
    assert.match(get.stdout, /│ failed\s+│ 1\s+│/);
    assert.match(get.stdout, new RegExp(`│ error file\\s+│ ${done.error_file}\\s+│`));
    assert.match(get.stdout, /│ errors\s+│ 1 × image_url content needs the 'vision' capability/);
    const getJson = await runCli(['jobs', 'get', job.id, '--json'], env);
    const asJson = JSON.parse(getJson.stdout);
    const fromApi = (await server.request('GET', `/v1/batch/jobs/${job.id}`)).body;
    assert.deepEqual(asJson, fromApi);

    // Cancelling a finished job leaves it as it is.
    const cancel = await runCli(['jobs', 'cancel', job.id], env);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout, `Job ${job.id} is SUCCESS (4/4 done)\n`);

    const retry = await runCli(['jobs', 'retry', job.id], env);
    assert.equal(retry.code, 0, retry.stderr);
    const m = new RegExp(`^Job (\\S+) retries 1 failed line of job ${job.id} \\((QUEUED|RUNNING)\\)$`).exec(retry.stdout.trim());
    assert.ok(m, retry.stdout);
    // The retried line is refused again: not one line succeeded, so the retry job ends FAILED, and watch exits 3.
    const watch = await runCli(['jobs', 'watch', m[1]!], env);
    assert.equal(watch.code, 3, watch.stderr);
    assert.match(watch.stdout, new RegExp(`^Job ${m[1]} FAILED in \\d+s: 0 of 1 succeeded, 1 failed$`, 'm'));
  });

  test('jobs watch follows the event stream, and polls a server that has none', { timeout: 300_000 }, async (t) => {
    // The upstream holds every call: the job runs until the test cancels it, once watch is following it.
    up.setFault(() => ({ kind: 'hang' }));
    t.after(() => up.setFault(null));
    for (const withoutEvents of [false, true]) {
      const proxy = await startRecordingProxy(server.url, { withoutEvents });
      try {
        const created = await server.request('POST', '/v1/batch/jobs', { endpoint: '/v1/chat/completions', model: 'up-openai', requests: chatLines(2, 'w') });
        const id = created.body.id as string;
        const jobGets = () => proxy.requests.filter((q) => q === `GET /v1/batch/jobs/${id}`).length;
        const watching = spawnCli(['jobs', 'watch', id], cliEnv(proxy.url, server.keys.a));
        await waitFor(
          withoutEvents ? 'watch to poll' : 'watch to open the event stream',
          async () => (withoutEvents ? (jobGets() >= 3 ? true : undefined) : proxy.requests.includes(`GET /v1/batch/jobs/${id}/events`) ? true : undefined),
          120_000,
        );
        await server.request('POST', `/v1/batch/jobs/${id}/cancel`);
        const r = await watching.done;
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stdout, new RegExp(`^Job ${id} CANCELLED in \\d+s: 0 of 2 succeeded, 2 failed$`, 'm'));
        const lines = r.stderr.split('\n').filter(Boolean);
        assert.match(lines[0]!, /^job [0-9a-f]{8} (QUEUED|RUNNING) 0\/2 \(0%\) succeeded 0 failed 0 \| - req\/s \| ETA -$/);
        assert.match(lines.at(-1)!, /^job [0-9a-f]{8} CANCELLED 2\/2 \(100%\) succeeded 0 failed 2 /);
        assert.ok(proxy.requests.includes(`GET /v1/batch/jobs/${id}/events`), proxy.requests.join('\n'));
        if (!withoutEvents) assert.equal(jobGets(), 1, `one GET, then only the stream: ${proxy.requests.join(', ')}`);
      } finally {
        await proxy.close();
      }
    }
  });

  test('files upload, ls, download (to a file and to stdout) and rm', { timeout: 300_000 }, async (t) => {
    const dir = tempDir(t);
    const input = path.join(dir, 'upload-me.jsonl');
    writeJsonl(input, chatLines(5, 'f'));
    const up1 = await runCli(['files', 'upload', input], env);
    assert.equal(up1.code, 0, up1.stderr);
    const m = /^Uploaded upload-me\.jsonl as file (\S+) \(batch, [\d.]+ [kM]?B, 5 requests\)$/.exec(up1.stdout.trim());
    assert.ok(m, up1.stdout);
    const id = m[1]!;
    assert.match(up1.stderr, /^uploading upload-me\.jsonl: .* \(100%\)$/m);

    const ls = await runCli(['files', 'ls'], env);
    assert.match(ls.stdout.split('\n').find((l) => l.includes(id)) ?? '', /│ upload-me\.jsonl\s+│ batch\s+│ upload\s+│ [\d.]+ [kM]?B\s+│ 5\s+│/);
    const lsJson = JSON.parse((await runCli(['files', 'ls', '--purpose', 'batch', '--json'], env)).stdout) as { data: { id: string; bytes: number }[] };
    assert.equal(lsJson.data.find((f) => f.id === id)?.bytes, fs.statSync(input).size);

    const target = path.join(dir, 'copy.jsonl');
    const dl = await runCli(['files', 'download', id, '--output', target], env);
    assert.equal(dl.code, 0, dl.stderr);
    assert.equal(fs.readFileSync(target, 'utf8'), fs.readFileSync(input, 'utf8'));
    const toStdout = await runCli(['files', 'download', id], env);
    assert.equal(toStdout.stdout, fs.readFileSync(input, 'utf8'));

    const rm = await runCli(['files', 'rm', id], env);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, `Deleted file ${id}\n`);
    const gone = await runCli(['files', 'download', id], env);
    assert.equal(gone.code, 1);
    assert.equal(oneErrorLine(gone), `batchd: download file '${id}': No file with id '${id}' exists in this workspace. (HTTP 404 file_not_found)`);
  });

  test('keys create, ls and revoke work on the store; a revoked key is refused at once', { timeout: 300_000 }, async () => {
    const store = ['--data-dir', server.dataDir];
    const created = await runCli(['keys', 'create', '--workspace', 'cli-ws', '--label', 'from the test', ...store], env);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^bd-[A-Za-z0-9_-]{32}$/);
    const withKey = cliEnv(server.url, key);
    const empty = await runCli(['jobs', 'ls'], withKey);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, 'No jobs.\n', "the new workspace sees none of workspace a's jobs");

    const ls = await runCli(['keys', 'ls', ...store], env);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /│ [0-9a-f-]{36} │ cli-ws\s+│ from the test\s+│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+│/);
    assert.ok(!ls.stdout.includes(key), 'keys are never shown, only their ids');
    const rows = JSON.parse((await runCli(['keys', 'ls', '--workspace', 'cli-ws', '--json', ...store], env)).stdout) as { id: string; workspace: string }[];
    assert.deepEqual(
      rows.map((r) => r.workspace),
      ['cli-ws'],
    );

    const revoke = await runCli(['keys', 'revoke', rows[0]!.id, ...store], env);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.equal(revoke.stdout, `Revoked key ${rows[0]!.id} of workspace 'cli-ws' (from the test)\n`);
    const refused = await runCli(['jobs', 'ls'], withKey);
    assert.equal(refused.code, 1);
    assert.match(oneErrorLine(refused), /^batchd: list jobs: Unauthorized: unknown API key \(HTTP 401 unauthorized\) — check BATCHD_API_KEY/);

    // Revoking by the key itself works too, and a second revoke names what is missing.
    const second = await runCli(['keys', 'create', '--workspace', 'cli-ws', ...store], env);
    const byValue = await runCli(['keys', 'revoke', second.stdout.trim(), ...store], env);
    assert.equal(byValue.code, 0, byValue.stderr);
    const again = await runCli(['keys', 'revoke', rows[0]!.id, ...store], env);
    assert.equal(again.code, 1);
    assert.match(oneErrorLine(again), /^batchd: no API key with id '[0-9a-f-]{36}' .* in this store/);
  });
});
