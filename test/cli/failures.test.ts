import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmp.js';
import { cliEnv, oneErrorLine, runCli } from './cli-runner.js';

/** A port nothing listens on: bound by the OS, then closed. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs the CLI, expects exit 1 and exactly one `batchd: …` line on stderr, and returns that line. */
async function failure(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runCli(args, env);
  assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return oneErrorLine(r);
}

describe('every failure is one clear line on stderr and exit 1', () => {
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    server = await startTestServer({ worker: false });
    env = cliEnv(server.url, server.keys.a);
  });
  after(() => server.stop());

  test('unknown ids name the id and the server says why', { timeout: 300_000 }, async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const notFound = `No batch job with id '${id}' exists in this workspace. (HTTP 404 batch_job_not_found)`;
    assert.equal(await failure(['jobs', 'get', id], env), `batchd: job '${id}': ${notFound}`);
    assert.equal(await failure(['jobs', 'watch', id], env), `batchd: job '${id}': ${notFound}`);
    assert.equal(await failure(['jobs', 'cancel', id], env), `batchd: cancel job '${id}': ${notFound}`);
    assert.equal(await failure(['jobs', 'retry', id], env), `batchd: retry job '${id}': ${notFound}`);
    assert.equal(
      await failure(['files', 'rm', id], env),
      `batchd: delete file '${id}': No file with id '${id}' exists in this workspace. (HTTP 404 file_not_found)`,
    );
    // Another workspace's job is as unknown as a made-up id.
    const other = await server.request(
      'POST',
      '/v1/batch/jobs',
      { endpoint: '/v1/chat/completions', model: 'mistral-small-latest', requests: [{ custom_id: '1', body: { messages: [{ role: 'user', content: 'x' }] } }] },
      'b',
    );
    assert.match(await failure(['jobs', 'get', other.body.id], env), /^batchd: job '.*': No batch job with id .* \(HTTP 404 batch_job_not_found\)$/);
  });

  test('a wrong key, no key, an unreachable server', { timeout: 300_000 }, async (t) => {
    assert.equal(
      await failure(['jobs', 'ls'], cliEnv(server.url, 'not-a-key')),
      `batchd: list jobs: Unauthorized: unknown API key (HTTP 401 unauthorized) — check BATCHD_API_KEY / --api-key for ${server.url}`,
    );
    const port = await closedPort();
    assert.equal(
      await failure(['jobs', 'ls'], cliEnv(`http://127.0.0.1:${port}`, 'k')),
      `batchd: cannot reach batchd at http://127.0.0.1:${port} (connection refused): is \`batchd serve\` running there? Set BATCHD_URL or --url`,
    );
    assert.equal(
      await failure(['jobs', 'ls'], cliEnv('https://batchd.example.com', null)),
      'batchd: no API key: set BATCHD_API_KEY (or MISTRAL_API_KEY, or pass --api-key) for https://batchd.example.com',
    );
    const empty = tempDir(t);
    assert.match(await failure(['jobs', 'ls', '--data-dir', empty], cliEnv(server.url, null)), /^batchd: no API key: .*no key in .*default-api-key\)$/);
    assert.equal(
      await failure(['jobs', 'ls'], cliEnv('not a url', 'k')),
      "batchd: BATCHD_URL / --url is not a URL: 'not a url' (expected e.g. http://127.0.0.1:8787)",
    );
  });

  test("a local server's default key is read from its data dir, and MISTRAL_API_KEY is a fallback", { timeout: 300_000 }, async (t) => {
    const dataDir = tempDir(t);
    fs.writeFileSync(path.join(dataDir, 'default-api-key'), `${server.keys.b}\n`);
    const viaFile = await runCli(['jobs', 'ls', '--json', '--data-dir', dataDir], cliEnv(server.url, null));
    assert.equal(viaFile.code, 0, viaFile.stderr);
    assert.ok((JSON.parse(viaFile.stdout) as { data: unknown[] }).data.length >= 0);
    const viaMistral = await runCli(['jobs', 'ls', '--json'], cliEnv(server.url, null, { MISTRAL_API_KEY: server.keys.b }));
    assert.equal(viaMistral.code, 0, viaMistral.stderr);
    assert.deepEqual(JSON.parse(viaMistral.stdout), JSON.parse(viaFile.stdout));
  });

  test('an invalid file: the server names the line; a missing file; bad arguments', { timeout: 300_000 }, async (t) => {
    const dir = tempDir(t);
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, '{"custom_id":"1","body":{"messages":[]}}\n{"custom_id":"2","body":\n');
    assert.match(
      await failure(['submit', bad, '--model', 'mistral-small-latest'], env),
      /^batchd: upload bad\.jsonl: Invalid batch file: line 2: .* \(HTTP 400 invalid_batch_file\)$/,
    );
    const jobs = (await server.request('GET', '/v1/batch/jobs')).body;
    assert.equal(jobs.total, 0, 'no job was created from the invalid file');
    assert.equal(
      await failure(['submit', path.join(dir, 'missing.jsonl'), '--model', 'm'], env),
      `batchd: cannot read ${path.join(dir, 'missing.jsonl')}: ENOENT`,
    );

    const good = path.join(dir, 'good.jsonl');
    fs.writeFileSync(good, '{"custom_id":"1","body":{"messages":[{"role":"user","content":"x"}]}}\n');
    assert.match(
      await failure(['submit', good, '--model', 'no-such-model'], env),
      /^batchd: create job: Unknown model 'no-such-model'\. .*\(HTTP 422 model_not_found\)$/,
    );
    const files = (await server.request('GET', '/v1/files')).body;
    assert.equal(files.total, 0, 'the upload of a refused job is deleted again');
    assert.equal(await failure(['submit', good, '--model', 'm', '--metadata', 'novalue'], env), "batchd: --metadata expects key=value, got 'novalue'");
    assert.match(await failure(['jobs', 'ls', '--status', 'DONE'], env), /^batchd: --status 'DONE' is not one of QUEUED, RUNNING, /);
    // Usage errors are commander's own single line.
    const usage = await runCli(['submit', good], env);
    assert.equal(usage.code, 1);
    assert.equal(usage.stderr, "error: required option '--model <model>' not specified\n");
  });
});
