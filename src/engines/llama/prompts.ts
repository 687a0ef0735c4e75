import type { LlamaModel, Token } from 'node-llama-cpp';
import { invalidRequest } from '../engine.js';

interface Message {
  role: string;
  content?: unknown;
}

/** Text of a Mistral message content: a string, or text chunks ({type:'text', text}). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (c && typeof c === 'object' && 'text' in c ? String((c as { text: unknown }).text) : '')).join('');
  return content === null || content === undefined ? '' : JSON.stringify(content);
}

/**
 * Mistral's instruct format as tokens: `<s>[INST] system\n\nuser [/INST]assistant</s>[INST] …`.
 * Template markers are control tokens; message text is tokenized as plain text, so a
 * message that contains "[INST]" cannot forge a turn.
 */
export function chatTokens(model: LlamaModel, messages: unknown): Token[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidRequest('messages', 'messages must be a non-empty array of {role, content}');
  const special = (s: string) => model.tokenize(s, true);
  const text = (s: string) => model.tokenize(s, false);
  const tokens: Token[] = model.tokens.bos === null ? [] : [model.tokens.bos];
  let system = '';
  for (const raw of messages as Message[]) {
    if (!raw || typeof raw.role !== 'string') throw invalidRequest('messages', 'each message needs a role');
    const content = contentText(raw.content);
    if (raw.role === 'system') system += `${content}\n\n`;
    else if (raw.role === 'user' || raw.role === 'tool') {
      tokens.push(...special('[INST]'), ...text(` ${system}${content} `), ...special('[/INST]'));
      system = '';
    } else if (raw.role === 'assistant') {
      tokens.push(...text(content));
      if (!('prefix' in raw && (raw as { prefix?: boolean }).prefix)) tokens.push(...(model.tokens.eos === null ? [] : [model.tokens.eos]));
    } else throw invalidRequest('messages', `unknown role '${raw.role}'`);
  }
  if (system) tokens.push(...special('[INST]'), ...text(` ${system.trim()} `), ...special('[/INST]'));
  return tokens;
}

/**
 * Fill-in-the-middle: `[SUFFIX]suffix[PREFIX]prompt` then generation, Mistral/Codestral
 * style, with the model's own FIM tokens. A model without them gets the same layout in
 * plain text markers (documented in the README).
 */
export function fimTokens(model: LlamaModel, prompt: unknown, suffix: unknown): Token[] {
  if (typeof prompt !== 'string') throw invalidRequest('prompt', 'prompt must be a string');
  const suf = typeof suffix === 'string' ? suffix : '';
  const { prefix: pre, suffix: sufTok } = model.tokens.infill;
  const bos = model.tokens.bos === null ? [] : [model.tokens.bos];
  if (pre !== null && sufTok !== null) return [...bos, sufTok, ...model.tokenize(suf, false), pre, ...model.tokenize(prompt, false)];
  return [...bos, ...model.tokenize(`<suffix>${suf}<prefix>${prompt}`, false)];
}
