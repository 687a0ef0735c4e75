import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import { defaultEngineFactories } from '../../src/engines/factories.js';
import { startChildServer, type ChildServer } from './child-process.js';

export const KEYS = { a: 'key-a', b: 'key-b' } as const;

export interface TestServer extends RunningServer {
  dataDir: string;
  /** The seeded API keys: workspace a and workspace b. */
  keys: typeof KEYS;
  /** Authorization headers for workspace a or b. */
  auth(ws?: 'a' | 'b'): Record<string, string>;
  /** JSON request against the server; returns status and parsed body. */
  request(method: string, url: string, body?: unknown, ws?: 'a' | 'b'): Promise<{ status: number; body: any; headers: Headers }>;
  /** Stops the server and removes its data dir (unless keepData). `close` does the same. */
  stop(): Promise<void>;
}

export interface TestServerOptions extends ServerOptions {
  /** Environment overrides (BATCHD_*), merged over fast test defaults. */
  env?: Record<string, string>;
  /** A model registry file's content. */
  models?: unknown;
  /** Reuse a data dir (restart tests); by default a fresh temp dir. */
  dataDir?: string;
  database?: string;
  /** Keep the data dir on stop (for a restart on the same dir). */
  keepData?: boolean;
  /** false: API only, jobs stay QUEUED (for tests of the API contract alone). */
  worker?: boolean;
}

/** A registry file's models routed to a fake upstream: one per engine kind and endpoint set. */
export function upstreamModels(url: string, extra: Record<string, unknown> = {}) {
  const all = ['/v1/chat/completions', '/v1/embeddings', '/v1/fim/completions', '/v1/moderations', '/v1/chat/moderations'];
  return {
    models: [
      {
        id: 'up-openai',
        engine: 'openai',
        url,
        upstream_model: 'served',
        endpoints: all,
        max_in_flight: 8,
        input_price_per_mtok: 1,
        output_price_per_mtok: 2,
        ...extra,
      },
      { id: 'up-mistral', engine: 'mistral', url, endpoints: all, max_in_flight: 8, ...extra },
    ],
  };
}

/** An in-process batchd on an ephemeral port with workspaces a and b, tuned to react in milliseconds. */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-test-'));
  let configPath: string | undefined;
  if (opts.models) {
    configPath = path.join(dataDir, 'models.json');
    fs.writeFileSync(configPath, JSON.stringify(opts.models));
  }
  const env = {
    BATCHD_API_KEYS: `a:${KEYS.a},b:${KEYS.b}`,
    BATCHD_TICK_MS: '20',
    BATCHD_POLL_MS: '20',
    BATCHD_LEASE_MS: '2000',
    BATCHD_RETRY_BASE_MS: '5',
    BATCHD_RETRY_MAX_MS: '50',
    BATCHD_UPSTREAM_TIMEOUT_MS: '2000',
    BATCHD_VALIDATION_THREADS: '0',
    ...opts.env,
  };
  const config = loadConfig({ host: '127.0.0.1', port: 0, dataDir, config: configPath, database: opts.database, worker: opts.worker }, env);
  const server = await startServer(config, { engineFactories: defaultEngineFactories(config), log: () => undefined, warn: () => undefined, ...opts });
  const auth = (ws: 'a' | 'b' = 'a') => ({ authorization: `Bearer ${KEYS[ws]}` });
  const request: TestServer['request'] = async (method, url, body, ws = 'a') => {
    const res = await fetch(`${server.url}${url}`, {
      method,
      headers: { ...auth(ws), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const stop = async () => {
    await server.close();
    if (!opts.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    ...server,
    dataDir,
    keys: KEYS,
    auth,
    request,
    stop,
    close: stop,
  };
}

export interface ChildTestServer extends ChildServer {
  pid: number;
  dataDir: string;
  /** Workspace → key: a and b when seeded, else the one key batchd generated for 'default'. */
  keys: Record<string, string>;
}

/**
 * `node bin/batchd.js serve --port 0` in a child process over a fresh temp data dir,
 * resolved once it prints its listening line. With `seedKeys: false` no key is
 * configured, so batchd generates one for workspace 'default' (kept in the data dir).
 * By default it runs the TypeScript sources (BATCHD_FROM_SOURCE), so a stale build is never
 * what is tested; `fromSource: false` runs the compiled build as installed (`npm test` builds
 * it first), without tsx's own memory. `stop()` ends the process and removes the data dir.
 */
export async function startChildTestServer(
  opts: { args?: string[]; env?: Record<string, string>; seedKeys?: boolean; fromSource?: boolean } = {},
): Promise<ChildTestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-child-'));
  const seed = opts.seedKeys ?? true;
  const env = { BATCHD_FROM_SOURCE: opts.fromSource === false ? '' : '1', BATCHD_API_KEYS: seed ? `a:${KEYS.a},b:${KEYS.b}` : '', ...opts.env };
  let child: ChildServer;
  try {
    child = await startChildServer(['serve', '--port', '0', '--data-dir', dataDir, ...(opts.args ?? [])], env);
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const keys: Record<string, string> = seed ? { ...KEYS } : { default: fs.readFileSync(path.join(dataDir, 'default-api-key'), 'utf8').trim() };
  return {
    ...child,
    pid: child.proc.pid!,
    dataDir,
    keys,
    stop: async () => {
      await child.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value (not undefined); fails after `timeoutMs` with the last value seen. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until a job reaches one of `statuses` and returns it. */
export function waitForJob(server: TestServer, jobId: string, statuses = ['SUCCESS', 'FAILED', 'TIMEOUT_EXCEEDED', 'CANCELLED'], ws: 'a' | 'b' = 'a') {
  return waitFor(`job ${jobId} to reach ${statuses.join('/')}`, async () => {
    const { body } = await server.request('GET', `/v1/batch/jobs/${jobId}`, undefined, ws);
    return statuses.includes(body.status) ? body : undefined;
  });
}

/** JSONL text → parsed lines. */
export const jsonl = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

/** Downloads a file's content as text. */
export async function download(server: TestServer, fileId: string, ws: 'a' | 'b' = 'a'): Promise<string> {
  const res = await fetch(`${server.url}/v1/files/${fileId}/content`, { headers: server.auth(ws) });
  if (res.status !== 200) throw new Error(`download ${fileId}: ${res.status} ${await res.text()}`);
  return res.text();
}

/** Uploads JSONL text as a batch file and returns the file object. */
export async function uploadJsonl(server: TestServer, lines: unknown[], ws: 'a' | 'b' = 'a', filename = 'input.jsonl') {
  const form = new FormData();
  form.append('file', new Blob([lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n']), filename);
  form.append('purpose', 'batch');
  const res = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: server.auth(ws), body: form });
  const body = (await res.json()) as Record<string, any>;
  if (res.status !== 200) throw new Error(`upload failed: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** n chat requests with custom_ids `<prefix><i>` and a content that fault rules can match. */
export const chatLines = (n: number, prefix = 'r', content = (i: number) => `hello ${i}`) =>
  Array.from({ length: n }, (_, i) => ({ custom_id: `${prefix}${i}`, body: { max_tokens: 8, messages: [{ role: 'user', content: content(i) }] } }));

/** JSONL bytes of `lines` (objects serialised, strings kept), newline-terminated: what an SDK upload sends. */
export const jsonlBytes = (lines: unknown[]) => new TextEncoder().encode(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');

/** An `assert.rejects` check for an SDK error (SDKError) with this HTTP status and, optionally, a body matching `body`. */
export const sdkError = (status: number, body?: RegExp) => (e: { statusCode?: number; body?: string }) =>
  e.statusCode === status && (!body || body.test(e.body ?? ''));
