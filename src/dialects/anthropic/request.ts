import { LineRequestError } from '../types.js';

type Body = Record<string, unknown>;

const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/** Fields of Anthropic's Messages request that change nothing here, accepted and dropped (hints, bookkeeping, caching). */
const IGNORED = new Set(['model', 'stream', 'metadata', 'service_tier', 'inference_geo', 'speed', 'cache_control', 'diagnostics']);
/** Fields read below. Anything else (container, mcp_servers, context_management…) asks for behaviour no engine here has. */
const READ = new Set([
  'max_tokens',
  'messages',
  'system',
  'stop_sequences',
  'temperature',
  'top_p',
  'top_k',
  'tools',
  'tool_choice',
  'thinking',
  'output_config',
]);

function fail(at: string, message: string): never {
  throw new LineRequestError(`${at}: ${message}`);
}

/**
 * Anthropic's Messages request (`params` of a batch request, or an online POST /v1/messages
 * body) as the Mistral chat body the engines take. Content the engines cannot read (images,
 * documents, server tools, extended thinking) is refused with the field and block named,
 * never dropped silently. `at` prefixes every message (`params`, `requests[3].params`).
 */
export function toMistralChat(params: unknown, at = 'params'): Body {
  if (!isObject(params)) fail(at, `must be a JSON object, got ${kind(params)}`);
  for (const key of Object.keys(params)) {
    if (!IGNORED.has(key) && !READ.has(key)) fail(`${at}.${key}`, 'is not supported by batchd (Extra inputs are not permitted)');
  }
  const maxTokens = params.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) fail(`${at}.max_tokens`, 'is required: an integer of at least 1');
  const out: Body = { max_tokens: maxTokens };
  const messages = [...systemMessages(params.system, `${at}.system`), ...conversation(params.messages, `${at}.messages`)];
  out.messages = messages;
  if (params.stop_sequences !== undefined && params.stop_sequences !== null) {
    const stops = params.stop_sequences;
    if (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string')) fail(`${at}.stop_sequences`, 'must be an array of strings');
    if (stops.length > 0) out.stop = stops;
  }
  for (const key of ['temperature', 'top_p'] as const) {
    const v = params[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) fail(`${at}.${key}`, 'must be a number from 0 to 1');
    out[key] = v;
  }
  if (params.top_k !== undefined && params.top_k !== null) {
    fail(`${at}.top_k`, 'is not supported: the engines behind batchd sample with temperature and top_p only; leave top_k out');
  }
  const thinking = params.thinking;
  if (thinking !== undefined && thinking !== null && !(isObject(thinking) && thinking.type === 'disabled')) {
    fail(
      `${at}.thinking`,
      `type '${String(isObject(thinking) ? thinking.type : thinking)}' is not supported: batchd's engines do not produce Anthropic thinking blocks; leave thinking out or disable it`,
    );
  }
  Object.assign(out, tooling(params.tools, params.tool_choice, at));
  const format = outputFormat(params.output_config, `${at}.output_config`);
  if (format) out.response_format = format;
  return out;
}

function textBlocks(blocks: unknown[], at: string): string {
  return blocks
    .map((b, i) => {
      if (!isObject(b) || b.type !== 'text')
        fail(`${at}.${i}`, `must be a text block ({type: "text", text}), got ${isObject(b) ? `type '${String(b.type)}'` : kind(b)}`);
      if (typeof b.text !== 'string') fail(`${at}.${i}.text`, 'must be a string');
      return b.text;
    })
    .join('\n');
}

function systemMessages(system: unknown, at: string): Body[] {
  if (system === undefined || system === null) return [];
  if (typeof system === 'string') return system === '' ? [] : [{ role: 'system', content: system }];
  if (!Array.isArray(system)) fail(at, `must be a string or an array of text blocks, got ${kind(system)}`);
  const text = textBlocks(system, at);
  return text === '' ? [] : [{ role: 'system', content: text }];
}

/** Anthropic's turns as Mistral messages: tool_result blocks become `tool` messages, tool_use blocks an assistant's tool_calls. */
function conversation(messages: unknown, at: string): Body[] {
  if (!Array.isArray(messages) || messages.length === 0) fail(at, 'is required: a non-empty array of {role, content}');
  const out: Body[] = [];
  messages.forEach((m, i) => {
    const here = `${at}.${i}`;
    if (!isObject(m)) fail(here, `must be an object {role, content}, got ${kind(m)}`);
    const role = m.role;
    if (role !== 'user' && role !== 'assistant' && role !== 'system') fail(`${here}.role`, `must be 'user' or 'assistant', got ${JSON.stringify(role)}`);
    const content = m.content;
    if (typeof content === 'string') {
      out.push({ role, content });
      return;
    }
    if (!Array.isArray(content)) fail(`${here}.content`, `must be a string or an array of content blocks, got ${kind(content)}`);
    if (role === 'system') out.push({ role, content: textBlocks(content, `${here}.content`) });
    else if (role === 'user') out.push(...userTurn(content, `${here}.content`));
    else out.push(assistantTurn(content, `${here}.content`));
  });
  const last = out[out.length - 1]!;
  // A last assistant turn is a prefill: the answer continues it (Mistral's `prefix`).
  if (last.role === 'assistant') {
    if (last.tool_calls) fail(`${at}.${messages.length - 1}`, 'a last assistant turn (a prefill) must be text, not tool_use');
    last.prefix = true;
  }
  return out;
}

function unsupportedBlock(type: unknown, at: string): never {
  const what = typeof type === 'string' ? `content block type '${type}'` : 'a content block without a type';
  fail(at, `${what} is not supported by batchd (its engines read text, tool_use and tool_result blocks only); send the content as text`);
}

/**
 * A turn's content blocks, checked: the text of its text blocks, in order; every other block goes
 * to `other` with its path, which reads the types its role allows and refuses the rest.
 */
function turnTexts(blocks: unknown[], at: string, other: (b: Body, here: string) => void): string[] {
  const texts: string[] = [];
  blocks.forEach((b, i) => {
    const here = `${at}.${i}`;
    if (!isObject(b)) fail(here, `must be a content block object, got ${kind(b)}`);
    if (b.type === 'text') {
      if (typeof b.text !== 'string') fail(`${here}.text`, 'must be a string');
      texts.push(b.text);
    } else other(b, here);
  });
  return texts;
}

function userTurn(blocks: unknown[], at: string): Body[] {
  const tools: Body[] = [];
  const texts = turnTexts(blocks, at, (b, here) => {
    if (b.type === 'tool_result') {
      if (typeof b.tool_use_id !== 'string' || b.tool_use_id === '') fail(`${here}.tool_use_id`, 'is required: the id of the tool_use block this answers');
      const c = b.content;
      let text: string;
      if (c === undefined || c === null) text = '';
      else if (typeof c === 'string') text = c;
      else if (Array.isArray(c)) text = textBlocks(c, `${here}.content`);
      else fail(`${here}.content`, `must be a string or an array of text blocks, got ${kind(c)}`);
      tools.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error === true ? `Error: ${text}` : text });
    } else unsupportedBlock(b.type, here);
  });
  // Anthropic puts tool results first in the user turn; Mistral answers tool messages, then reads the user's words.
  return [...tools, ...(texts.length || tools.length === 0 ? [{ role: 'user', content: texts.join('\n') }] : [])];
}

function assistantTurn(blocks: unknown[], at: string): Body {
  const calls: Body[] = [];
  const texts = turnTexts(blocks, at, (b, here) => {
    if (b.type === 'tool_use') {
      if (typeof b.id !== 'string' || b.id === '') fail(`${here}.id`, 'is required: a string');
      if (typeof b.name !== 'string' || b.name === '') fail(`${here}.name`, 'is required: the tool name');
      if (!isObject(b.input)) fail(`${here}.input`, 'must be an object');
      calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } });
    } else if (b.type === 'thinking' || b.type === 'redacted_thinking') {
      // Earlier reasoning handed back with a tool loop: not part of the prompt the engines build.
    } else unsupportedBlock(b.type, here);
  });
  return { role: 'assistant', content: texts.join(''), ...(calls.length ? { tool_calls: calls } : {}) };
}

function tooling(tools: unknown, choice: unknown, at: string): Body {
  const out: Body = {};
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) fail(`${at}.tools`, `must be an array of {name, description, input_schema}, got ${kind(tools)}`);
    out.tools = tools.map((t, i) => {
      const here = `${at}.tools.${i}`;
      if (!isObject(t)) fail(here, `must be an object {name, description, input_schema}, got ${kind(t)}`);
      if (t.type !== undefined && t.type !== null && t.type !== 'custom') {
        fail(`${here}.type`, `server tool '${String(t.type)}' is not supported by batchd; give client tools as {name, description, input_schema}`);
      }
      if (typeof t.name !== 'string' || t.name === '') fail(`${here}.name`, 'is required: a string');
      if (!isObject(t.input_schema)) fail(`${here}.input_schema`, 'is required: a JSON Schema object');
      return {
        type: 'function',
        function: { name: t.name, ...(typeof t.description === 'string' ? { description: t.description } : {}), parameters: t.input_schema },
      };
    });
  }
  if (choice === undefined || choice === null) return out;
  const here = `${at}.tool_choice`;
  if (!isObject(choice)) fail(here, `must be an object {type: "auto" | "any" | "tool" | "none"}, got ${kind(choice)}`);
  if (choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  if (choice.type === 'auto' || choice.type === 'none' || choice.type === 'any') out.tool_choice = choice.type;
  else if (choice.type === 'tool') {
    if (typeof choice.name !== 'string' || choice.name === '') fail(`${here}.name`, 'is required with type "tool"');
    out.tool_choice = { type: 'function', function: { name: choice.name } };
  } else fail(`${here}.type`, `must be "auto", "any", "tool" or "none", got ${JSON.stringify(choice.type)}`);
  return out;
}

function outputFormat(config: unknown, at: string): Body | null {
  if (config === undefined || config === null) return null;
  if (!isObject(config)) fail(at, `must be an object, got ${kind(config)}`);
  // `effort` is a hint for Anthropic's own models; the engines here have no such dial.
  const format = config.format;
  if (format === undefined || format === null) return null;
  if (!isObject(format) || format.type !== 'json_schema' || !isObject(format.schema)) fail(`${at}.format`, 'must be {type: "json_schema", schema: {...}}');
  return { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
}
