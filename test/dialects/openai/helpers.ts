import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { after, before } from 'node:test';
import { jsonl, startTestServer, waitFor, type TestServer, type TestServerOptions } from '../../helpers/server.js';

/** The official OpenAI SDK pointed at a test server: only `baseURL` differs from OpenAI's own setup. */
export const openAiClient = (server: TestServer, ws: 'a' | 'b' = 'a') => new OpenAI({ apiKey: server.keys[ws], baseURL: `${server.url}/v1` });

/** A test server started before the suite's tests and stopped after them, with the SDK on it (read both once the tests run). */
export function openAiSuite(opts: TestServerOptions = {}) {
  const suite = {} as { server: TestServer; client: OpenAI };
  before(async () => {
    suite.server = await startTestServer(opts);
    suite.client = openAiClient(suite.server);
  });
  after(() => suite.server.stop());
  return suite;
}

/** One line of an OpenAI batch input file. */
export const openAiLine = (customId: string, url: string, body: Record<string, unknown>) => ({ custom_id: customId, method: 'POST', url, body });

/** n chat lines on `model` (custom_ids `<prefix><i>`), with OpenAI's field names. */
export const openAiChatLines = (n: number, model: string, prefix = 'r', extra: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) =>
    openAiLine(`${prefix}${i}`, '/v1/chat/completions', { model, max_completion_tokens: 8, messages: [{ role: 'user', content: `hello ${i}` }], ...extra }),
  );

/** Uploads lines as a JSONL batch file through the SDK, as OpenAI's docs do (files.create, purpose "batch"). */
export async function uploadBatchFile(client: OpenAI, lines: unknown[], name = 'batch.jsonl') {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}

export const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** Polls batches.retrieve until the batch reaches one of `statuses`. */
export function waitForBatch(client: OpenAI, id: string, statuses = TERMINAL, timeoutMs = 60_000): Promise<Batch> {
  return waitFor(
    `batch ${id} to reach ${statuses.join('/')}`,
    async () => {
      const b = await client.batches.retrieve(id);
      return statuses.includes(b.status) ? b : undefined;
    },
    timeoutMs,
  );
}

/** A result file's lines, downloaded through the SDK (files.content). */
export async function resultLines(client: OpenAI, fileId: string | null | undefined) {
  if (!fileId) return [];
  return jsonl(await (await client.files.content(fileId)).text());
}
