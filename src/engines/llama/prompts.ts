import {
  LlamaText,
  SpecialTokensText,
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelResponse,
  type ChatWrapper,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { invalidRequest } from '../engine.js';
import { refusedRequest } from './sampling.js';
import { functionsOf, templateToolSyntax, templateWrapper } from './template-tools.js';
import { mistralToolSyntax, type ToolSyntax } from './tools.js';

interface Message {
  role: 'system' | 'user' | 'assistant' | 'tool';
  text: string;
  /** Mistral's assistant prefix: the answer continues this text. */
  prefix: boolean;
  /** An assistant turn's reasoning (Mistral's thinking chunks), replayed in the next turn. */
  thinking?: string;
  /** An assistant turn's tool calls; arguments as JSON text. */
  toolCalls?: { id: string; name: string; arguments: string }[];
  /** A tool message: the call it answers. */
  toolCallId?: string;
}

export interface ChatPrompt {
  tokens: Token[];
  /** The assistant prefix the completion continues (Mistral returns it as part of the content). */
  prefix: string;
  /** The role of the last message (a tool result is answered differently from a user turn). */
  lastRole: Message['role'];
}

export interface ChatOptions {
  /** Tools offered to the model, as Mistral's API takes them ({type: "function", function: {name, description, parameters}}). */
  tools?: unknown[];
  /** Names the model in errors about content it cannot read. */
  modelName?: string;
}

/** Content chunks that need a capability the embedded engine does not have. */
const CHUNK_CAPABILITY: Record<string, string> = {
  image_url: 'vision',
  document_url: 'document understanding (OCR)',
  file: 'document understanding (OCR)',
  input_audio: 'audio',
};

/** Text (and, for assistant turns, reasoning) of a Mistral message content: a string, or an array of content chunks. */
function contentOf(content: unknown, at: string, role: Message['role'], modelName: string | undefined): { text: string; thinking: string } {
  if (content === undefined || content === null) return { text: '', thinking: '' };
  if (typeof content === 'string') return { text: content, thinking: '' };
  if (!Array.isArray(content)) throw invalidRequest(at, 'content must be a string or an array of content chunks');
  let text = '';
  let thinking = '';
  content.forEach((c: { type?: unknown; text?: unknown; thinking?: unknown }, i) => {
    if (c?.type === 'text' && typeof c.text === 'string') text += c.text;
    else if (c?.type === 'thinking' && role === 'assistant' && Array.isArray(c.thinking))
      thinking += contentOf(c.thinking, `${at}.${i}.thinking`, 'user', modelName).text;
    else if (typeof c?.type === 'string' && CHUNK_CAPABILITY[c.type]) {
      const needs = CHUNK_CAPABILITY[c.type]!;
      throw refusedRequest(
        `${at}.${i}`,
        `${c.type} content needs the '${needs}' capability, which ${modelName ? `model '${modelName}'` : 'this model'} does not have on this server (the embedded llama.cpp engine reads text only); send text, or serve the model from an upstream engine with ${needs}`,
      );
    } else throw invalidRequest(`${at}.${i}`, `unsupported content chunk type '${String(c?.type)}'`);
  });
  return { text, thinking };
}

function toolCallsOf(raw: unknown, at: string): Message['toolCalls'] {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw invalidRequest(at, 'must be an array of tool calls');
  return raw.map((c: { id?: unknown; function?: { name?: unknown; arguments?: unknown } }, i) => {
    const fn = c?.function;
    if (!fn || typeof fn.name !== 'string') throw invalidRequest(`${at}.${i}.function.name`, 'is required');
    const args = typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {});
    return { id: typeof c.id === 'string' ? c.id : 'null', name: fn.name, arguments: args };
  });
}

/** Checks Mistral's message list: roles, content types, and what the last message may be. */
export function parseMessages(messages: unknown, modelName?: string): Message[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidRequest('messages', 'must be a non-empty array of {role, content}');
  const out = messages.map((raw: { role?: unknown; content?: unknown; prefix?: unknown; tool_calls?: unknown; tool_call_id?: unknown }, i): Message => {
    const at = `messages.${i}`;
    if (!raw || typeof raw !== 'object') throw invalidRequest(at, 'must be an object with role and content');
    if (raw.role !== 'system' && raw.role !== 'user' && raw.role !== 'assistant' && raw.role !== 'tool')
      throw invalidRequest(`${at}.role`, "must be 'system', 'user', 'assistant' or 'tool'");
    if (raw.role !== 'assistant' && typeof raw.content !== 'string' && !Array.isArray(raw.content))
      throw invalidRequest(`${at}.content`, 'is required: a string or an array of content chunks');
    const { text, thinking } = contentOf(raw.content, `${at}.content`, raw.role, modelName);
    const msg: Message = { role: raw.role, text, prefix: raw.role === 'assistant' && raw.prefix === true };
    if (raw.role === 'assistant') {
      msg.toolCalls = toolCallsOf(raw.tool_calls, `${at}.tool_calls`);
      if (thinking) msg.thinking = thinking;
      if ((raw.content === undefined || raw.content === null) && !msg.toolCalls?.length)
        throw refusedRequest(at, 'Assistant message must have either content or tool_calls, but not none.');
    }
    if (raw.role === 'tool' && typeof raw.tool_call_id === 'string') msg.toolCallId = raw.tool_call_id;
    return msg;
  });
  const last = out[out.length - 1]!;
  if (last.role === 'system' || (last.role === 'assistant' && !last.prefix)) {
    throw refusedRequest('messages', `Expected last role user or tool (or assistant with prefix true) but got ${last.role}`);
  }
  if (out.some((m, i) => m.prefix && i !== out.length - 1)) throw refusedRequest('messages', 'only the last message can be an assistant prefix');
  return out;
}

/** Marker tokens between reasoning and answer: control tokens where the vocabulary has them, text otherwise. */
export interface Markers {
  think: Token[];
  endThink: Token[];
}

export interface PromptFormatter {
  chat(messages: unknown, options?: ChatOptions): ChatPrompt;
  fim(prompt: unknown, suffix: unknown): Token[];
  markers: Markers;
  /** How this model writes tool calls: Mistral's [TOOL_CALLS] syntax, or its own template's. */
  tools: ToolSyntax;
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
  const marker = (s: string) => control(s) ?? model.tokenize(s, false);
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  const inst = control('[INST]');
  const endInst = control('[/INST]');
  const markers: Markers = { think: marker('[THINK]'), endThink: marker('[/THINK]') };
  const fim = (prompt: unknown, suffix: unknown) => fimTokens(model, prompt, suffix);
  // Without a template of its own a model gets Mistral's layout (markers as plain text if they are not tokens).
  if (typeof template !== 'string' || (inst !== null && endInst !== null && template.includes('[INST]'))) {
    const toolCalls = marker('[TOOL_CALLS]');
    const chat = mistralChat(model, inst ?? model.tokenize('[INST]', false), endInst ?? model.tokenize('[/INST]', false), marker, { ...markers, toolCalls });
    return {
      chat: (messages, options = {}) => chat(parseMessages(messages, options.modelName), options.tools ?? []),
      fim,
      markers,
      // The model's own [TOOL_CALLS] control token (Mistral's tokenizers since v3) lets it choose a call by itself.
      tools: mistralToolSyntax(toolCalls, control('[TOOL_CALLS]')?.[0] ?? null),
    };
  }
  const wrapper = templateWrapper(model, template);
  const chat = wrapperChat(model, wrapper);
  return {
    chat: (messages, options = {}) => chat(parseMessages(messages, options.modelName), options.tools ?? []),
    fim,
    markers,
    tools: templateToolSyntax(model, wrapper),
  };
}

const callsJson = (calls: NonNullable<Message['toolCalls']>) => JSON.stringify(calls.map((c) => ({ name: c.name, arguments: parseOr(c.arguments), id: c.id })));
const parseOr = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/**
 * `<s>[INST] …[/INST] answer</s>[AVAILABLE_TOOLS] […][/AVAILABLE_TOOLS][INST] system\n\nlast user[/INST]`,
 * as Mistral's template renders it, with tool calls (`[TOOL_CALLS] […]</s>`), tool results
 * (`[TOOL_RESULTS] {…}[/TOOL_RESULTS]`) and replayed reasoning (`[THINK]…[/THINK]`).
 */
function mistralChat(model: LlamaModel, inst: Token[], endInst: Token[], marker: (s: string) => Token[], markers: Markers & { toolCalls: Token[] }) {
  const text = (s: string) => model.tokenize(s, false);
  const bos = model.tokens.bos === null ? [] : [model.tokens.bos];
  const eos = model.tokens.eos === null ? [] : [model.tokens.eos];
  return (messages: Message[], tools: unknown[]): ChatPrompt => {
    const system = messages
      .filter((m) => m.role === 'system')
      .map((m) => `${m.text}\n\n`)
      .join('');
    const lastUser = messages.map((m) => m.role).lastIndexOf('user');
    const tokens = [...bos];
    // Appended piece by piece: `push(...list)` passes every token as an argument and
    // overflows the stack past ~100k tokens (a 500 on long prompts before issue 17).
    const add = (...pieces: Token[][]) => {
      for (const piece of pieces) for (const t of piece) tokens.push(t);
    };
    messages.forEach((m, i) => {
      if (m.role === 'user') {
        if (i === lastUser && tools.length) add(marker('[AVAILABLE_TOOLS]'), text(` ${JSON.stringify(tools)}`), marker('[/AVAILABLE_TOOLS]'));
        add(inst, text(` ${i === lastUser ? system : ''}${m.text}`), endInst);
      } else if (m.role === 'tool') {
        add(marker('[TOOL_RESULTS]'), text(` ${JSON.stringify({ content: parseOr(m.text), call_id: m.toolCallId ?? 'null' })}`), marker('[/TOOL_RESULTS]'));
      } else if (m.role === 'assistant') {
        if (m.thinking) add(markers.think, text(m.thinking), markers.endThink);
        if (m.text || !m.toolCalls?.length) add(text(` ${m.text}`));
        if (m.toolCalls?.length) add(markers.toolCalls, text(` ${callsJson(m.toolCalls)}`));
        if (!m.prefix) add(eos);
      }
    });
    const last = messages[messages.length - 1]!;
    return { tokens, prefix: last.prefix ? last.text : '', lastRole: last.role };
  };
}

/**
 * Any other model: its chat template, rendered by node-llama-cpp's chat wrapper
 * (template-tools.ts), tools included: the wrapper documents them as the template does,
 * and writes an assistant turn's tool calls, each with the result of the `tool` message
 * that answers it, in the template's syntax. A `tool` message continues the model turn
 * whose call it answers, as node-llama-cpp keeps calls and results; the answer after the
 * last result continues that turn.
 */
function wrapperChat(model: LlamaModel, wrapper: ChatWrapper) {
  return (messages: Message[], tools: unknown[]): ChatPrompt => {
    const history: ChatHistoryItem[] = [];
    // The model turn that tool results and the answer after them continue, and its calls still without a result.
    let open: ChatModelResponse | null = null;
    let pending: { id: string; call: ChatModelFunctionCall }[] = [];
    for (const m of messages) {
      if (m.role === 'assistant') {
        const turn: ChatModelResponse = open ?? { type: 'model', response: [] };
        if (turn !== open) history.push(turn);
        if (m.thinking) turn.response.push(`[THINK]${m.thinking}[/THINK]`);
        if (m.text || !m.toolCalls?.length) turn.response.push(m.text);
        const calls = (m.toolCalls ?? []).map((c, i) => {
          const call: ChatModelFunctionCall = { type: 'functionCall', name: c.name, params: parseOr(c.arguments), result: undefined, startsNewChunk: i === 0 };
          turn.response.push(call);
          return { id: c.id, call };
        });
        open = calls.length ? turn : null;
        pending = calls;
        continue;
      }
      if (m.role === 'tool' && open && pending.length) {
        // The call with this id, else the first one still waiting.
        const at = pending.findIndex((p) => p.id === m.toolCallId);
        pending.splice(at < 0 ? 0 : at, 1)[0]!.call.result = parseOr(m.text);
        continue;
      }
      open = null;
      // A tool result that answers no call is shown as the user's text.
      if (m.role === 'system') history.push({ type: 'system', text: m.text });
      else history.push({ type: 'user', text: m.text });
    }
    const last = messages[messages.length - 1]!;
    if (last.role === 'user' || (last.role === 'tool' && !open)) history.push({ type: 'model', response: [] });
    const functions = tools.length ? functionsOf(tools) : undefined;
    const { contextText } = wrapper.generateContextState({ chatHistory: history, availableFunctions: functions, documentFunctionParams: true });
    // The template's own text holds no control token mostly ('", "arguments": ', '\n\n# Tools…'): joined to
    // the text beside it, it is tokenized as the whole rendered template would be (a call's ` {` one token, not two).
    const joined = LlamaText(contextText.values.map((v) => (v instanceof SpecialTokensText && !hasControl(model, v.value) ? v.value : v)));
    return { tokens: joined.tokenize(model.tokenizer), prefix: last.prefix ? last.text : '', lastRole: last.role };
  };
}

const hasControl = (model: LlamaModel, text: string) => model.tokenize(text, true).some((t) => model.isSpecialToken(t));

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
