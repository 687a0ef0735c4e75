import type { Worker } from 'node:worker_threads';
import { spawnThread } from '../../spawn-thread.js';
import type { Token } from 'node-llama-cpp';
import type { ClassifierLabel } from '../classification.js';
import type { GuardPrompt } from './guard.js';
import type { ChatOptions, ChatPrompt } from './prompts.js';
import { contextTooLong } from './sampling.js';
import { charsOf, chatPromptChars } from './token-bound.js';
import {
  decodeError,
  decodeResult,
  runTokenizeOp,
  type TokenizeKit,
  type TokenizeOp,
  type TokenizeResults,
  type WireError,
  type Wire,
} from './tokenize-ops.js';

/**
 * Characters above which a request's text is tokenized in the tokenizer thread. llama.cpp's
 * tokenizer is synchronous native code, and not linear in the worst case: on the generated
 * model 8K characters take 1 ms as English, 7.5 ms as emoji and 19 ms as one run of CJK
 * characters (byte-fallback tokens, quadratic in the run: 32K of them take 280 ms, 73K 2.4 s).
 * Below this the event loop is held ~20 ms at worst; everything longer goes to the thread.
 */
export const OFFLOAD_CHARS = 8 * 1024;

type Reply = { id: number; ok: true; wire: Wire } | { id: number; ok: false; error: WireError };

/**
 * Tokenization of requests for one loaded model, never long on the event loop:
 * 1. a text whose least possible token count (its length over the longest token, see
 *    token-bound.ts) already exceeds the context is refused at once, untokenized;
 * 2. what remains is tokenized here when small, and in a worker thread holding only the
 *    model's vocabulary when large (started on first need, one op at a time; should the
 *    thread fail, the op runs here instead: slower, never wrong).
 */
export class Tokenizer {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (w: Wire) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kit: TokenizeKit,
    private readonly file: string,
    /** Tokens per sequence. */
    readonly contextSize: number,
    /** Longest token in UTF-16 units, or null when the vocabulary gives no bound. */
    readonly longestToken: number | null,
    private readonly offloadChars = OFFLOAD_CHARS,
  ) {}

  /** Tokens a text of `chars` UTF-16 units has at least. */
  leastTokens(chars: number): number {
    return this.longestToken === null ? 0 : Math.ceil(chars / this.longestToken);
  }

  async chat(messages: unknown, options: ChatOptions, signal: AbortSignal): Promise<ChatPrompt> {
    const chars = chatPromptChars(messages);
    this.refuseLonger(
      chars,
      this.contextSize - 1,
      'messages',
      'the prompt',
      "this model's context holds CTX tokens per request, prompt and completion together",
    );
    return this.run({ kind: 'chat', messages, options }, chars, signal);
  }

  async fim(prompt: unknown, suffix: unknown, signal: AbortSignal): Promise<Token[]> {
    const chars = charsOf(prompt) + charsOf(suffix);
    this.refuseLonger(
      chars,
      this.contextSize - 1,
      'prompt',
      'the prompt with its suffix',
      "this model's context holds CTX tokens per request, prompt and completion together",
    );
    return this.run({ kind: 'fim', prompt, suffix }, chars, signal);
  }

  /** Embedding inputs: each must leave room for the BOS/EOS the embedding context adds. */
  async texts(texts: string[], signal: AbortSignal): Promise<Token[][]> {
    let chars = 0;
    texts.forEach((t, i) => {
      this.refuseLonger(
        t.length,
        this.contextSize - 1,
        'input',
        `input ${i}`,
        `this model's context holds ${this.contextSize} tokens, so it embeds at most ${this.contextSize - 1} per input`,
      );
      chars += t.length;
    });
    return this.run({ kind: 'texts', texts }, chars, signal);
  }

  /** A classifier text: every label's question repeats it, so it weighs once per label, plus its own count. */
  async guard(text: string, labels: ClassifierLabel[], signal: AbortSignal): Promise<GuardPrompt> {
    this.refuseLonger(text.length, this.contextSize, 'input', 'the text', "this model's context holds CTX tokens");
    return this.run({ kind: 'guard', text, labels }, text.length * (labels.length + 1), signal);
  }

  private refuseLonger(chars: number, maxTokens: number, param: string, what: string, limit: string) {
    const least = this.leastTokens(chars);
    if (least <= maxTokens) return;
    throw contextTooLong(
      param,
      `${what} is at least ${least} tokens (${chars} characters, and no token of this model is longer than ${this.longestToken}); ${limit.replace('CTX', String(this.contextSize))}`,
    );
  }

  private run<O extends TokenizeOp>(op: O, chars: number, signal: AbortSignal): Promise<TokenizeResults[O['kind']]> {
    if (chars < this.offloadChars) return Promise.resolve(runTokenizeOp(this.kit, op));
    // One op at a time, in order: one still waiting when its request is aborted is dropped unsent.
    const result = this.queue.then(async () => {
      if (signal.aborted) throw signal.reason;
      let wire: Wire;
      try {
        wire = await this.post(op);
      } catch (err) {
        if (err instanceof ThreadFailure) return runTokenizeOp(this.kit, op);
        throw err;
      }
      return decodeResult(op.kind, wire) as TokenizeResults[O['kind']];
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private post(op: TokenizeOp): Promise<Wire> {
    const worker = (this.worker ??= this.spawn());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, op });
    });
  }

  private spawn(): Worker {
    const worker = spawnTokenizerThread(this.file);
    worker.unref();
    worker.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.wire);
      else p.reject(msg.error.engine ? decodeError(msg.error) : new ThreadFailure(msg.error.message));
    });
    const fail = (err: unknown) => {
      if (this.worker === worker) this.worker = null;
      for (const p of this.pending.values()) p.reject(new ThreadFailure(String((err as Error)?.message ?? err)));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(`exited with code ${code}`));
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }
}

/** The thread itself failed (could not load the vocabulary, crashed): the op is run on the event loop instead. */
class ThreadFailure extends Error {}

function spawnTokenizerThread(file: string): Worker {
  return spawnThread(import.meta.url, 'tokenizer-worker', { workerData: { file } });
}
