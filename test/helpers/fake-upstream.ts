/**
 * A real HTTP test double of an upstream model server (OpenAI-compatible routes, plus
 * Mistral's FIM and moderation routes so it can stand in for a Mistral upstream).
 *
 *   const up = await startFakeUpstream({ latencyMs: 5, maxConcurrent: 8 });
 *   up.url                      // 'http://127.0.0.1:PORT/v1', the registry's `url`
 *   up.setFault((call) => call.n % 5 === 0 ? { kind: 'status', status: 503, retryAfter: 1 } : null);
 *   up.calls.length, up.stats   // every call recorded; in-flight and max in-flight; sockets opened
 *   await up.close();           // destroys every socket, hung ones included
 *
 * Answers are deterministic functions of the request: chat echoes the last user message
 * (`reply: <text>`), completions echo the prompt, embeddings hash the input, usage counts
 * words. A chat whose system prompt asks for moderation answers with a JSON object of
 * scores (0.9 for `violence_and_threats` when the text says "kill", else 0.01).
 * Faults: a status (with optional Retry-After and body), a connection reset, a hang
 * (never answers), malformed or truncated JSON, or a slow drip of the body.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash } from 'node:crypto';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: unknown }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'malformed' }
  | { kind: 'truncated' }
  | { kind: 'drip'; ms: number };

export interface Call {
  /** 1-based order of arrival. */
  n: number;
  path: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** The text the request is about (last user message, prompt or first input). */
  text: string;
}

export interface FakeUpstreamOptions {
  latencyMs?: number;
  /** Requests served at once; more wait, like a real server's queue. */
  maxConcurrent?: number;
}

export interface FakeUpstream {
  url: string;
  calls: Call[];
  stats: { inFlight: number; maxInFlight: number; sockets: number };
  setFault(fn: ((call: Call) => Fault | null) | null): void;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

const words = (s: string) => (s.match(/\S+/g) ?? []).length;

function textOf(path: string, body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) {
    const users = (body.messages as { role?: string; content?: unknown }[]).filter((m) => m.role === 'user');
    const last = users[users.length - 1]?.content;
    return typeof last === 'string' ? last : JSON.stringify(last ?? '');
  }
  if (typeof body.prompt === 'string') return body.prompt;
  const input = body.input;
  if (typeof input === 'string') return input;
  if (Array.isArray(input)) return input.map((i) => (typeof i === 'string' ? i : JSON.stringify(i))).join(' ');
  return path;
}

function isGuardCall(body: Record<string, unknown>): boolean {
  const first = (body.messages as { role?: string; content?: unknown }[] | undefined)?.[0];
  return first?.role === 'system' && typeof first.content === 'string' && first.content.includes('moderation');
}

const SCORE_KEYS = ['sexual', 'hate_and_discrimination', 'violence_and_threats', 'dangerous_and_criminal_content', 'selfharm', 'health', 'financial', 'law', 'pii'];
const scoresFor = (text: string) => Object.fromEntries(SCORE_KEYS.map((k) => [k, k === 'violence_and_threats' && /kill/i.test(text) ? 0.9 : 0.01]));

function answer(path: string, body: Record<string, unknown>, text: string): Record<string, unknown> {
  const model = String(body.model ?? 'fake');
  const created = 1_700_000_000;
  const usage = (p: number, c: number) => ({ prompt_tokens: p, completion_tokens: c, total_tokens: p + c });
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  switch (path) {
    case '/v1/chat/completions': {
      const content = isGuardCall(body) ? JSON.stringify(scoresFor(text)) : `reply: ${text}`;
      return { id: 'chatcmpl-fake', object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage: usage(words(text), words(content)) };
    }
    case '/v1/completions':
      return { id: 'cmpl-fake', object: 'text_completion', created, model, choices: [{ index: 0, text: `fill(${text}|${String(body.suffix ?? '')})`, finish_reason: 'stop' }], usage: usage(words(text), 1) };
    case '/v1/fim/completions':
      return { id: 'fim-fake', object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: `fill(${text}|${String(body.suffix ?? '')})` }, finish_reason: 'stop' }], usage: usage(words(text), 1) };
    case '/v1/embeddings':
      return {
        object: 'list', model, usage: usage(words(text), 0),
        data: inputs.map((s, index) => ({ object: 'embedding', index, embedding: [...createHash('sha256').update(String(s)).digest()].slice(0, 8).map((b) => b / 255) })),
      };
    default:
      return { id: 'mod-fake', model, results: inputs.map((s) => ({ categories: Object.fromEntries(SCORE_KEYS.map((k) => [k, scoresFor(String(JSON.stringify(s)))[k]! >= 0.5])), category_scores: scoresFor(JSON.stringify(s)) })), usage: usage(words(text), 0) };
  }
}

export async function startFakeUpstream(opts: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  let latencyMs = opts.latencyMs ?? 0;
  const maxConcurrent = opts.maxConcurrent ?? Infinity;
  let fault: ((call: Call) => Fault | null) | null = null;
  const calls: Call[] = [];
  const stats = { inFlight: 0, maxInFlight: 0, sockets: 0 };
  const sockets = new Set<Socket>();
  const waiting: (() => void)[] = [];
  let serving = 0;

  const acquire = () => (serving < maxConcurrent ? (serving++, Promise.resolve()) : new Promise<void>((r) => waiting.push(r)));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else serving--;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad json' } }));
      return;
    }
    const path = (req.url ?? '').split('?')[0]!;
    const call: Call = { n: calls.length + 1, path, body, headers: req.headers, text: textOf(path, body) };
    calls.push(call);
    await acquire();
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      if (latencyMs > 0) await sleep(latencyMs);
      const f = fault?.(call) ?? null;
      if (f?.kind === 'hang') return await new Promise<void>((resolve) => req.socket.once('close', () => resolve()));
      if (f?.kind === 'reset') return void req.socket.destroy();
      if (f?.kind === 'status') {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
        res.writeHead(f.status, headers).end(JSON.stringify(f.body ?? { object: 'error', message: `fake upstream says ${f.status}`, type: 'fake_error', code: String(f.status) }));
        return;
      }
      const text = JSON.stringify(answer(path, body, call.text));
      if (f?.kind === 'malformed') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "x", "choices": [ this is not json');
      if (f?.kind === 'truncated') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        return void req.socket.destroy();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      if (f?.kind === 'drip') {
        for (const piece of text.match(/.{1,16}/g) ?? []) {
          res.write(piece);
          await sleep(f.ms);
        }
        return void res.end();
      }
      res.end(text);
    } finally {
      stats.inFlight--;
      release();
    }
  });
  server.on('connection', (s) => {
    stats.sockets++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    stats,
    setFault: (fn) => (fault = fn),
    setLatency: (ms) => (latencyMs = ms),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
