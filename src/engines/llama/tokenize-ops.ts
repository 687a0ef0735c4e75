import type { LlamaModel, Token } from 'node-llama-cpp';
import type { ClassifierLabel } from '../classification.js';
import { EngineError } from '../engine.js';
import type { EngineErrorCode } from '../../errors.js';
import type { GuardPrompt, Guard } from './guard.js';
import type { ChatOptions, ChatPrompt, PromptFormatter } from './prompts.js';

/**
 * The tokenization a request needs before it runs, as data, so that the same code runs
 * on the event loop (small inputs) or in the tokenizer thread (large ones).
 */
export type TokenizeOp =
  | { kind: 'chat'; messages: unknown; options: ChatOptions }
  | { kind: 'fim'; prompt: unknown; suffix: unknown }
  | { kind: 'texts'; texts: string[] }
  | { kind: 'guard'; text: string; labels: ClassifierLabel[] };

export interface TokenizeResults {
  chat: ChatPrompt;
  fim: Token[];
  texts: Token[][];
  guard: GuardPrompt;
}

/** What an op runs on: a loaded model (or a vocabulary-only one in the tokenizer thread). */
export interface TokenizeKit {
  model: LlamaModel;
  formatter: PromptFormatter;
  guard: Guard;
}

export function runTokenizeOp<O extends TokenizeOp>(kit: TokenizeKit, op: O): TokenizeResults[O['kind']] {
  const out = (() => {
    switch (op.kind) {
      case 'chat':
        return kit.formatter.chat(op.messages, op.options);
      case 'fim':
        return kit.formatter.fim(op.prompt, op.suffix);
      case 'texts':
        return op.texts.map((t) => kit.model.tokenize(t));
      case 'guard':
        return kit.guard.prepare(op.text, op.labels);
    }
  })();
  return out as TokenizeResults[O['kind']];
}

/** A result on its way between threads: token lists as Uint32Arrays, which move without a copy. */
export type Wire = { [key: string]: unknown };

const u32 = (tokens: readonly Token[]) => Uint32Array.from(tokens);
const back = (a: Uint32Array) => Array.from(a) as Token[];

export function encodeResult(kind: TokenizeOp['kind'], r: TokenizeResults[TokenizeOp['kind']]): { wire: Wire; transfer: ArrayBuffer[] } {
  const arrays: Uint32Array[] = [];
  const keep = (tokens: readonly Token[]) => {
    const a = u32(tokens);
    arrays.push(a);
    return a;
  };
  let wire: Wire;
  if (kind === 'chat') {
    const p = r as ChatPrompt;
    wire = { ...p, tokens: keep(p.tokens) };
  } else if (kind === 'fim') wire = { tokens: keep(r as Token[]) };
  else if (kind === 'texts') wire = { lists: (r as Token[][]).map(keep) };
  else {
    const g = r as GuardPrompt;
    wire = { shared: keep(g.shared), tails: g.tails.map(keep), inputTokens: g.inputTokens };
  }
  return { wire, transfer: arrays.map((a) => a.buffer as ArrayBuffer) };
}

export function decodeResult<K extends TokenizeOp['kind']>(kind: K, wire: Wire): TokenizeResults[K] {
  const out = (() => {
    switch (kind) {
      case 'chat':
        return { ...(wire as unknown as ChatPrompt), tokens: back(wire.tokens as Uint32Array) };
      case 'fim':
        return back(wire.tokens as Uint32Array);
      case 'texts':
        return (wire.lists as Uint32Array[]).map(back);
      default:
        return { shared: back(wire.shared as Uint32Array), tails: (wire.tails as Uint32Array[]).map(back), inputTokens: wire.inputTokens as number };
    }
  })();
  return out as TokenizeResults[K];
}

/** An error thrown by an op in the tokenizer thread, as data: EngineErrors (the request's 4xx) keep their status and body. */
export type WireError =
  { engine: true; message: string; retryable: boolean; statusCode: number; body: unknown; code: EngineErrorCode } | { engine: false; message: string };

export function encodeError(err: unknown): WireError {
  if (err instanceof EngineError)
    return { engine: true, message: err.message, retryable: err.retryable, statusCode: err.statusCode, body: err.body, code: err.code };
  return { engine: false, message: err instanceof Error ? err.message : String(err) };
}

export function decodeError(e: WireError): Error {
  return e.engine
    ? new EngineError({ code: e.code, message: e.message, retryable: e.retryable, statusCode: e.statusCode, body: e.body })
    : new Error(`tokenizer thread: ${e.message}`);
}
