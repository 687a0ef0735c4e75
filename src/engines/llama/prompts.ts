import { resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from 'node-llama-cpp';
import { invalidRequest } from '../engine.js';
import { badRequest } from './sampling.js';

interface Message {
  role: 'system' | 'user' | 'assistant' | 'tool';
  text: string;
  /** Mistral's assistant prefix: the answer continues this text. */
  prefix: boolean;
}

export interface ChatPrompt {
  tokens: Token[];
  /** The assistant prefix the completion continues (Mistral returns it as part of the content). */
  prefix: string;
}

/** Text of a Mistral message content: a string, or an array of text chunks. */
function contentText(content: unknown, at: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidRequest(at, 'content must be a string or an array of content chunks');
  return content
    .map((c: { type?: unknown; text?: unknown }) => {
      if (c?.type === 'text' && typeof c.text === 'string') return c.text;
      throw badRequest(at, `only text content chunks are supported by this model, got type '${String(c?.type)}'`);
    })
    .join('');
}

/** Checks Mistral's message list: roles, content types, and what the last message may be. */
export function parseMessages(messages: unknown): Message[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidRequest('messages', 'must be a non-empty array of {role, content}');
  const out = messages.map((raw: { role?: unknown; content?: unknown; prefix?: unknown }, i): Message => {
    const at = `messages.${i}`;
    if (!raw || typeof raw !== 'object') throw invalidRequest(at, 'must be an object with role and content');
    if (raw.role !== 'system' && raw.role !== 'user' && raw.role !== 'assistant' && raw.role !== 'tool') throw invalidRequest(`${at}.role`, "must be 'system', 'user', 'assistant' or 'tool'");
    if (raw.role !== 'assistant' && typeof raw.content !== 'string' && !Array.isArray(raw.content)) throw invalidRequest(`${at}.content`, 'is required: a string or an array of content chunks');
    return { role: raw.role, text: contentText(raw.content, `${at}.content`), prefix: raw.role === 'assistant' && raw.prefix === true };
  });
  const last = out[out.length - 1]!;
  if (last.role === 'system' || (last.role === 'assistant' && !last.prefix)) {
    throw badRequest('messages', `Expected last role user or tool (or assistant with prefix true) but got ${last.role}`);
  }
  if (out.some((m, i) => m.prefix && i !== out.length - 1)) throw badRequest('messages', 'only the last message can be an assistant prefix');
  return out;
}

export interface PromptFormatter {
  chat(messages: unknown): ChatPrompt;
  fim(prompt: unknown, suffix: unknown): Token[];
}

/**
 * Turns requests into prompt tokens for one model. Models with Mistral's `[INST]`
 * control tokens (the generated one included) are formatted directly, as Mistral's
 * template does; any other model through node-llama-cpp's reading of its own chat
 * template. Message text is always tokenized as plain text, so a message containing
 * "[INST]" or "</s>" cannot forge a turn.
 */
export function createFormatter(model: LlamaModel): PromptFormatter {
  const control = (s: string) => {
    const t = model.tokenize(s, true);
    return t.length === 1 && model.isSpecialToken(t[0]) ? t : null;
  };
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  const inst = control('[INST]');
  const endInst = control('[/INST]');
  // Without a template of its own a model gets Mistral's layout (markers as plain text if they are not tokens).
  const mistral = typeof template !== 'string' || (inst !== null && endInst !== null && template.includes('[INST]'));
  const chat = mistral ? mistralChat(model, inst ?? model.tokenize('[INST]', false), endInst ?? model.tokenize('[/INST]', false)) : wrapperChat(model, resolveChatWrapper(model));
  return { chat: (messages) => chat(parseMessages(messages)), fim: (prompt, suffix) => fimTokens(model, prompt, suffix) };
}

/** `<s>[INST] …[/INST] answer</s>[INST] system\n\nlast user[/INST]`, as MISTRAL_CHAT_TEMPLATE renders it. */
function mistralChat(model: LlamaModel, inst: Token[], endInst: Token[]) {
  const text = (s: string) => model.tokenize(s, false);
  const bos = model.tokens.bos === null ? [] : [model.tokens.bos];
  const eos = model.tokens.eos === null ? [] : [model.tokens.eos];
  return (messages: Message[]): ChatPrompt => {
    const system = messages.filter((m) => m.role === 'system').map((m) => `${m.text}\n\n`).join('');
    const lastUser = messages.map((m) => m.role).lastIndexOf('user');
    const tokens = [...bos];
    messages.forEach((m, i) => {
      if (m.role === 'user' || m.role === 'tool') tokens.push(...inst, ...text(` ${i === lastUser ? system : ''}${m.text}`), ...endInst);
      else if (m.role === 'assistant') tokens.push(...text(` ${m.text}`), ...(m.prefix ? [] : eos));
    });
    const last = messages[messages.length - 1]!;
    return { tokens, prefix: last.prefix ? last.text : '' };
  };
}

/** Any other model: its chat template, rendered by node-llama-cpp's chat wrapper. */
function wrapperChat(model: LlamaModel, wrapper: ChatWrapper) {
  return (messages: Message[]): ChatPrompt => {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'system' ? { type: 'system', text: m.text } : m.role === 'assistant' ? { type: 'model', response: [m.text] } : { type: 'user', text: m.text },
    );
    const last = messages[messages.length - 1]!;
    if (!last.prefix) history.push({ type: 'model', response: [] });
    const { contextText } = wrapper.generateContextState({ chatHistory: history });
    return { tokens: contextText.tokenize(model.tokenizer), prefix: last.prefix ? last.text : '' };
  };
}

/**
 * Fill-in-the-middle with the model's own FIM tokens: Mistral/Codestral order
 * `<s>[SUFFIX]suffix[PREFIX]prompt` when the tokens are Mistral's, otherwise the
 * prefix-suffix-middle order of CodeLlama, StarCoder and Qwen. A model without FIM
 * tokens gets Mistral's layout with the markers as plain text.
 */
function fimTokens(model: LlamaModel, prompt: unknown, suffix: unknown): Token[] {
  if (typeof prompt !== 'string') throw invalidRequest('prompt', 'is required and must be a string');
  if (suffix !== undefined && suffix !== null && typeof suffix !== 'string') throw invalidRequest('suffix', 'must be a string');
  const suf = typeof suffix === 'string' ? suffix : '';
  const text = (s: string) => model.tokenize(s, false);
  const { prefix: pre, suffix: sufTok, middle: mid } = model.tokens.infill;
  const bos = model.tokens.bos === null ? [] : [model.tokens.bos];
  if (pre === null || sufTok === null) return [...bos, ...text(`[SUFFIX]${suf}[PREFIX]${prompt}`)];
  if (model.tokens.infill.prefixString === '[PREFIX]' || mid === null) return [...bos, sufTok, ...text(suf), pre, ...text(prompt)];
  return [...bos, pre, ...text(prompt), sufTok, ...text(suf), mid];
}
