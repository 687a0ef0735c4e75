/**
 * A real HTTP test double of an upstream model server on 127.0.0.1 (OpenAI-compatible
 * /v1/chat/completions, /v1/completions, /v1/embeddings, plus Mistral's /v1/fim/completions,
 * /v1/moderations, /v1/chat/moderations, /v1/classifications and /v1/chat/classifications,
 * so it can also stand in for a Mistral upstream).
 *
 *   const up = await startFakeUpstream({ latencyMs: 5, maxConcurrent: 8, seed: 1 });
 *   up.url                       // 'http://127.0.0.1:PORT/v1', the registry's `url`
 *   up.setBehaviour({ latencyMs: 2, rules: [
 *     { call: [1, 2], fault: { kind: 'status', status: 503, retryAfter: 1 } },  // by call number (1-based)
 *     { marker: 'BOOM', fault: { kind: 'reset' }, times: 1 },                 // by text in the prompt, once
 *     { probability: 0.1, fault: { kind: 'hang' } },                          // 10% of calls, seeded
 *     { marker: 'fenced', reply: '```json\n{"pii": 1}\n```' },                // scripted answer content
 *   ] });
 *   up.setFault((call) => (call.n % 5 === 0 ? { kind: 'malformed' } : null)); // a hook, checked before rules
 *   up.calls, up.stats           // every call; { total, inFlight, maxInFlight, queued, sockets, openSockets }
 *   await up.close();            // destroys every socket, hung ones included
 *
 * Precedence per call: the setFault hook (if it returns a fault), then the first matching
 * rule (all of a rule's conditions must hold), then the default behaviour. Behaviour is
 * decided when the call arrives; `latencyMs` is waited after a concurrency slot is taken.
 * Answers are deterministic functions of the request: chat echoes the last user message
 * (`reply: <text>`), completions and FIM answer `fill(<prompt>|<suffix>)`, embeddings are
 * 8 numbers from a SHA-256 of each input, usage counts words. A chat whose system prompt
 * mentions moderation or a classifier (a guard call) answers a JSON object of the keys its
 * system prompt lists as `- key: meaning` lines (the 9 moderation categories for a
 * moderation guard): 0.9 for `violence_and_threats` when the text says "kill", else 0.01;
 * its usage counts the words of every message, as a real server counts the whole prompt.
 * /v1/classifications and /v1/chat/classifications (Mistral) answer one `moderation`
 * target per input with the same scores.
 * A request with `stream: true` (chat, completions, FIM) gets server-sent events, a word per event.
 * Pass `record: false` for benchmarks: calls are then counted but not kept.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { MODERATION_CATEGORIES } from '../../src/engines/moderation.js';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: unknown }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'malformed' }
  | { kind: 'truncated' }
  | { kind: 'drip'; ms: number; bytes?: number };

export interface Behaviour {
  latencyMs?: number; // waited before answering (or failing)
  fault?: Fault | null; // what goes wrong; absent or null: a normal answer
  reply?: string; // replaces the generated text of a chat/completions/FIM answer (e.g. a guard's answer)
  respond?: (call: Call) => Record<string, unknown>; // replaces the whole 200 body
  /** A call with `stream: true` is answered as server-sent events, a word per event; the events after the first wait for this. */
  streamGate?: Promise<void>;
}

export interface Rule extends Behaviour {
  call?: number | number[] | { from?: number; to?: number };
  marker?: string | RegExp; // in the call's text
  path?: string;
  /** Chance of applying, drawn from the fake's seeded generator (reproducible for a given arrival order). */
  probability?: number;
  match?: (call: Call) => boolean;
  times?: number; // apply at most this many times
}

export interface Call {
  n: number; // 1-based order of arrival
  path: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  text: string; // what the request is about: the last user message, the prompt, or the inputs joined
  at: number; // Date.now() at arrival
  fault: Fault | null; // the fault applied, once decided
}

export interface FakeUpstreamOptions extends Behaviour {
  /** Requests served at once; more wait in a queue, like a real server's slots. */
  maxConcurrent?: number;
  seed?: number;
  record?: boolean; // keep every call in `calls` (default true)
}

export interface FakeStats {
  total: number;
  inFlight: number;
  maxInFlight: number;
  queued: number; // waiting for a concurrency slot
  sockets: number; // connections ever accepted (keep-alive reuse keeps this low)
  openSockets: number;
}

export interface FakeUpstream {
  url: string;
  calls: Call[];
  stats: FakeStats;
  /** Replaces the default behaviour and the rules. */
  setBehaviour(b: Behaviour & { rules?: Rule[] }): void;
  setFault(fn: ((call: Call) => Fault | null) | null): void;
  setLatency(ms: number): void;
  setMaxConcurrent(n: number): void;
  /** Forgets calls, counters (but open sockets), rules, the hook and the generator's state. */
  reset(): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;
const words = (s: string) => (s.match(/\S+/g) ?? []).length;
const usage = (p: number, c: number) => ({ prompt_tokens: p, completion_tokens: c, total_tokens: p + c });
const scoresFor = (text: string, keys: readonly string[] = MODERATION_CATEGORIES) =>
  Object.fromEntries(keys.map((k) => [k, k === 'violence_and_threats' && /kill/i.test(text) ? 0.9 : 0.01]));
const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v ?? ''));

function textOf(body: Json): string {
  if (Array.isArray(body.messages)) return str((body.messages as Json[]).filter((m) => m?.role === 'user').at(-1)?.content);
  if (typeof body.prompt === 'string') return body.prompt;
  return Array.isArray(body.input) ? body.input.map(str).join(' ') : str(body.input);
}

const isGuardCall = (body: Json) => {
  const first = (body.messages as Json[] | undefined)?.[0];
  return first?.role === 'system' && typeof first.content === 'string' && /moderation|classifier/.test(first.content);
};
/** The keys a guard call's system prompt asks for (`- key: meaning` lines). */
const guardKeys = (body: Json) => [...str((body.messages as Json[])[0]!.content).matchAll(/^- ([^:\n]+):/gm)].map((m) => m[1]!);
const promptWords = (body: Json) => (body.messages as Json[]).reduce((n, m) => n + words(str(m.content)), 0);

/**
 * A completion as server-sent events, the way OpenAI-compatible servers and Mistral send
 * it: a chunk per word (`delta.content`, or `text` on /v1/completions), a last chunk with
 * finish_reason — carrying usage (Mistral), or followed by a usage-only chunk when the
 * request asked for `stream_options.include_usage` (OpenAI) — then `data: [DONE]`.
 */
async function streamEvents(res: http.ServerResponse, path: string, body: Json, whole: Json, gate: Promise<void> | undefined) {
  const choice = (whole.choices as Json[])[0]!;
  const content = str((choice.message as Json | undefined)?.content ?? choice.text);
  const pieces = content.match(/\s*\S+/g) ?? [''];
  const completions = path === '/v1/completions';
  const base = { id: whole.id, object: completions ? 'text_completion' : 'chat.completion.chunk', created: whole.created, model: whole.model };
  const event = (json: Json) => res.write(`data: ${JSON.stringify(json)}\n\n`);
  const piece = (text: string, finish: string | null) => ({ index: 0, ...(completions ? { text } : { delta: { content: text } }), finish_reason: finish });
  const openAiUsage = (body.stream_options as Json | undefined)?.include_usage === true;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [i, p] of pieces.entries()) {
    event({ ...base, choices: [piece(p, null)] });
    if (i === 0) await gate;
  }
  event({ ...base, choices: [piece('', 'stop')], ...(openAiUsage ? {} : { usage: whole.usage }) });
  if (openAiUsage) event({ ...base, choices: [], usage: whole.usage });
  res.end('data: [DONE]\n\n');
}

/** The 200 body for a route, or null for an unknown route. */
function answer(path: string, body: Json, text: string, reply: string | undefined): Json | null {
  const base = { created: 1_700_000_000, model: String(body.model ?? 'fake') };
  const chat = (id: string, content: string) => ({
    ...base,
    id,
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: usage(words(text), words(content)),
  });
  const fill = reply ?? `fill(${text}|${str(body.suffix ?? '')})`;
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  switch (path) {
    case '/v1/chat/completions': {
      if (!isGuardCall(body)) return chat('chatcmpl-fake', reply ?? `reply: ${text}`);
      const content = reply ?? JSON.stringify(scoresFor(text, guardKeys(body)));
      return { ...chat('chatcmpl-fake', content), usage: usage(promptWords(body), words(content)) };
    }
    case '/v1/completions':
      return { ...base, id: 'cmpl-fake', object: 'text_completion', choices: [{ index: 0, text: fill, finish_reason: 'stop' }], usage: usage(words(text), 1) };
    case '/v1/fim/completions':
      return chat('fim-fake', fill);
    case '/v1/embeddings':
      return {
        ...base,
        object: 'list',
        usage: usage(words(text), 0),
        data: inputs.map((s, index) => ({
          object: 'embedding',
          index,
          embedding: [...createHash('sha256').update(str(s)).digest().subarray(0, 8)].map((b) => b / 255),
        })),
      };
    case '/v1/moderations':
    case '/v1/chat/moderations': {
      // Chat moderation takes one conversation (a message list) or a list of them.
      const items = path === '/v1/chat/moderations' && !Array.isArray(inputs[0]) ? [body.input] : inputs;
      const results = items.map((s) => {
        const scores = scoresFor(str(s));
        return { categories: Object.fromEntries(MODERATION_CATEGORIES.map((k) => [k, scores[k]! >= 0.5])), category_scores: scores };
      });
      return { id: 'mod-fake', model: base.model, results, usage: usage(words(text), 0) };
    }
    case '/v1/classifications':
    case '/v1/chat/classifications': {
      // Chat classification takes one {messages} or a list of them.
      const items = path === '/v1/chat/classifications' && !Array.isArray(body.input) ? [body.input] : inputs;
      const results = items.map((s) => ({ moderation: { scores: scoresFor(str(s)) } }));
      return { id: 'cls-fake', model: base.model, results, usage: usage(words(text), 0) };
    }
    default:
      return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: tiny, fast, and the same sequence for the same seed. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

function ruleMatches(rule: Rule, call: Call, random: () => number): boolean {
  const c = rule.call;
  if (typeof c === 'number' && call.n !== c) return false;
  if (Array.isArray(c) && !c.includes(call.n)) return false;
  if (c && typeof c === 'object' && !Array.isArray(c) && (call.n < (c.from ?? 1) || call.n > (c.to ?? Infinity))) return false;
  if (rule.path !== undefined && rule.path !== call.path) return false;
  if (typeof rule.marker === 'string' && !call.text.includes(rule.marker)) return false;
  if (rule.marker instanceof RegExp && !rule.marker.test(call.text)) return false;
  if (rule.match && !rule.match(call)) return false;
  // Drawn last, so a rule's other conditions don't shift the sequence for calls they exclude.
  return rule.probability === undefined || random() < rule.probability;
}

export async function startFakeUpstream(opts: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const initial = (): Behaviour => ({ latencyMs: opts.latencyMs ?? 0, fault: opts.fault ?? null, reply: opts.reply, respond: opts.respond });
  let defaults = initial();
  let rules: (Rule & { used: number })[] = [];
  let hook: ((call: Call) => Fault | null) | null = null;
  let random = seeded(opts.seed ?? 42);
  let maxConcurrent = opts.maxConcurrent ?? Infinity;
  const record = opts.record ?? true;
  const calls: Call[] = [];
  const stats: FakeStats = { total: 0, inFlight: 0, maxInFlight: 0, queued: 0, sockets: 0, openSockets: 0 };
  const sockets = new Set<Socket>();
  const waiting: (() => void)[] = [];
  let closed = false;

  const acquire = (): Promise<void> | void => {
    if (stats.inFlight < maxConcurrent) return void stats.inFlight++;
    stats.queued++;
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const drain = () => {
    while (waiting.length > 0 && stats.inFlight < maxConcurrent) {
      stats.queued--;
      stats.inFlight++;
      waiting.shift()!();
    }
  };
  const release = () => (stats.inFlight--, drain());

  function decide(call: Call): Behaviour {
    const hooked = hook?.(call) ?? null;
    if (hooked) return { ...defaults, fault: hooked };
    const rule = rules.find((r) => (r.times === undefined || r.used < r.times) && ruleMatches(r, call, random));
    if (!rule) return defaults;
    rule.used++;
    return {
      latencyMs: rule.latencyMs ?? defaults.latencyMs,
      fault: rule.fault ?? null,
      reply: rule.reply,
      respond: rule.respond,
      streamGate: rule.streamGate ?? defaults.streamGate,
    };
  }

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"object":"error","message":"request body is not JSON"}');
    }
    const path = (req.url ?? '').split('?')[0]!;
    const call: Call = { n: ++stats.total, path, body, headers: req.headers, text: textOf(body), at: Date.now(), fault: null };
    if (record) calls.push(call);
    const b = decide(call);
    const f = (call.fault = b.fault ?? null);
    await acquire();
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      if (b.latencyMs) await sleep(b.latencyMs);
      if (closed || res.destroyed) return;
      if (f?.kind === 'hang') return await new Promise<void>((resolve) => (req.socket.destroyed ? resolve() : req.socket.once('close', () => resolve())));
      if (f?.kind === 'reset') return void req.socket.destroy();
      if (f?.kind === 'status') {
        const headers: Record<string, string> = { 'content-type': typeof f.body === 'string' ? 'text/plain' : 'application/json' };
        if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
        const errorBody = f.body ?? { object: 'error', message: `fake upstream says ${f.status}`, type: 'fake_error', param: null, code: String(f.status) };
        return void res.writeHead(f.status, headers).end(typeof errorBody === 'string' ? errorBody : JSON.stringify(errorBody));
      }
      const json = b.respond ? b.respond(call) : answer(path, body, call.text, b.reply);
      if (!json)
        return void res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ object: 'error', message: `no route ${path}`, type: 'not_found' }));
      const text = JSON.stringify(json);
      if (f?.kind === 'malformed') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "x", "choices": [ this is not json');
      if (f?.kind === 'truncated') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
        return void res.write(text.slice(0, text.length >> 1), () => req.socket.destroy());
      }
      if (body.stream === true && Array.isArray(json.choices)) return await streamEvents(res, path, body, json, b.streamGate);
      if (f?.kind !== 'drip') return void res.writeHead(200, { 'content-type': 'application/json' }).end(text);
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < text.length && !res.destroyed && !closed; i += f.bytes ?? 16) {
        res.write(text.slice(i, i + (f.bytes ?? 16)));
        await sleep(f.ms);
      }
      res.end();
    } finally {
      release();
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    // A throwing `respond` becomes a 500 rather than an unhandled rejection that kills the test run.
    req.on('end', () => serve(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => res.headersSent || res.writeHead(500).end(String(err))));
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    stats.sockets++;
    stats.openSockets++;
    sockets.add(s);
    s.on('close', () => {
      stats.openSockets--;
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    stats,
    setBehaviour: ({ rules: r = [], ...b }) => {
      defaults = { ...initial(), ...b };
      rules = r.map((rule) => ({ ...rule, used: 0 }));
    },
    setFault: (fn) => void (hook = fn),
    setLatency: (ms) => void (defaults = { ...defaults, latencyMs: ms }),
    setMaxConcurrent: (n) => ((maxConcurrent = n), drain()),
    reset: () => {
      calls.length = 0;
      Object.assign(stats, { total: 0, maxInFlight: stats.inFlight, sockets: stats.openSockets });
      defaults = initial();
      rules = [];
      hook = null;
      random = seeded(opts.seed ?? 42);
    },
    close: async () => {
      closed = true;
      // Queued handlers see `closed` and give up; hung ones end when their socket closes.
      maxConcurrent = Infinity;
      drain();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
