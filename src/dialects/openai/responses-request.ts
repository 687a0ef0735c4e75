import { chatRequest, UnsupportedField } from './request.js';

type Body = Record<string, unknown>;
type Item = Record<string, any>;

const given = (v: unknown) => v !== undefined && v !== null;

/**
 * The Responses API's fields batchd reads. Bookkeeping fields with no effect on an answer
 * are dropped (IGNORED); fields that ask for state or tools batchd does not have are refused
 * by name (REFUSED); any other field is refused as unknown rather than silently dropped.
 */
const TRANSLATED = ['model', 'input', 'instructions', 'max_output_tokens', 'temperature', 'top_p', 'text', 'tools', 'tool_choice', 'parallel_tool_calls'];
const IGNORED = ['user', 'metadata', 'service_tier', 'prompt_cache_key', 'safety_identifier', 'stream', 'stream_options'];

/** A Responses body's field batchd refuses, and why (the answer is a 400 naming it). */
const REFUSED: Record<string, (v: unknown) => string | null> = {
  previous_response_id: () => 'batchd keeps no responses to continue from; send the whole conversation in input',
  conversation: () => 'batchd keeps no conversations; send the whole conversation in input',
  store: (v) => (v === true ? 'batchd does not store responses for retrieval; send store: false or leave it out' : null),
  background: (v) => (v === true ? 'background responses are not supported; call without background (or run a batch)' : null),
  prompt: () => 'stored prompt templates are not supported; send instructions and input instead',
  include: (v) => (Array.isArray(v) && v.length === 0 ? null : 'no additional output data can be included; leave include out'),
  reasoning: (v) => (typeof v === 'object' && v !== null && Object.values(v).every((x) => !given(x)) ? null : 'reasoning options are not supported'),
  max_tool_calls: () => 'max_tool_calls is not supported',
  truncation: (v) => (v === 'disabled' ? null : "only truncation 'disabled' is supported: an input longer than the model's context is refused, not cut"),
  top_logprobs: (v) => (v === 0 ? null : "log probabilities are not supported by batchd's engines; remove top_logprobs"),
};

/** Detects a Responses body among chat ones: it has `input` and no `messages` (a chat body always has messages). */
export const isResponsesBody = (body: Body) => body.input !== undefined && body.messages === undefined;

/**
 * A Responses API request as the OpenAI chat request it asks for (then translated for the
 * engines like any chat body): `instructions` is the system message, `input` a string or
 * message / function_call / function_call_output items, `max_output_tokens` the completion
 * budget, `text.format` the response_format, function tools and tool_choice in chat's form.
 * Throws UnsupportedField (naming the param) for what batchd cannot honour.
 */
export function responsesRequest(body: Body): Body {
  for (const [field, value] of Object.entries(body)) {
    const why = REFUSED[field];
    if (why) {
      const reason = given(value) ? why(value) : null;
      if (reason) throw new UnsupportedField(field, reason);
    } else if (!TRANSLATED.includes(field) && !IGNORED.includes(field)) {
      throw new UnsupportedField(field, 'is not a Responses API parameter batchd supports');
    }
  }
  if (!given(body.input)) throw new UnsupportedField('input', 'is required (a string or a list of input items)');
  const chat: Body = { model: body.model, messages: [...instructionsOf(body.instructions), ...inputMessages(body.input)] };
  if (given(body.max_output_tokens)) chat.max_completion_tokens = body.max_output_tokens;
  if (given(body.temperature)) chat.temperature = body.temperature;
  if (given(body.top_p)) chat.top_p = body.top_p;
  if (given(body.parallel_tool_calls)) chat.parallel_tool_calls = body.parallel_tool_calls;
  const format = responseFormat(body.text);
  if (format) chat.response_format = format;
  if (given(body.tools)) chat.tools = tools(body.tools);
  if (given(body.tool_choice)) chat.tool_choice = toolChoice(body.tool_choice);
  return chatRequest(chat);
}

function instructionsOf(instructions: unknown): Item[] {
  if (!given(instructions)) return [];
  if (typeof instructions !== 'string') throw new UnsupportedField('instructions', 'must be a string');
  return [{ role: 'system', content: instructions }];
}

/** `input` as chat messages: consecutive function_call items make one assistant turn with its tool calls. */
function inputMessages(input: unknown): Item[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input)) throw new UnsupportedField('input', 'must be a string or a list of input items');
  const messages: Item[] = [];
  input.forEach((item: unknown, i) => {
    const param = `input.${i}`;
    if (!item || typeof item !== 'object') throw new UnsupportedField(param, 'each input item must be an object');
    const it = item as Item;
    const type = it.type ?? 'message';
    if (type === 'message') return messages.push({ role: roleOf(it.role, param), content: contentText(it.content, param) });
    if (type === 'function_call') {
      const call = { id: it.call_id, type: 'function', function: { name: it.name, arguments: it.arguments } };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && Array.isArray(last.tool_calls)) last.tool_calls.push(call);
      else messages.push({ role: 'assistant', content: '', tool_calls: [call] });
      return;
    }
    if (type === 'function_call_output') {
      const content = typeof it.output === 'string' ? it.output : contentText(it.output, `${param}.output`);
      return messages.push({ role: 'tool', tool_call_id: it.call_id, content });
    }
    throw new UnsupportedField(
      `${param}.type`,
      `input items of type ${JSON.stringify(type)} are not supported (use message, function_call or function_call_output)`,
    );
  });
  return messages;
}

function roleOf(role: unknown, param: string): string {
  if (role === 'user' || role === 'assistant' || role === 'system') return role;
  if (role === 'developer') return 'system';
  throw new UnsupportedField(`${param}.role`, 'must be user, assistant, system or developer');
}

/** A message's content: a string, or text parts (input_text, and output_text in an assistant's earlier turn). */
function contentText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new UnsupportedField(`${param}.content`, 'must be a string or a list of content parts');
  return content
    .map((part: Item, j) => {
      if ((part?.type === 'input_text' || part?.type === 'output_text') && typeof part.text === 'string') return part.text as string;
      throw new UnsupportedField(`${param}.content.${j}`, `content parts of type ${JSON.stringify(part?.type)} are not supported; only text is`);
    })
    .join('');
}

/** `text.format` as chat's response_format. */
function responseFormat(text: unknown): Body | null {
  if (!given(text)) return null;
  const format = (text as Item).format as Item | undefined;
  if (!format || format.type === 'text') return null;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const { name, schema, strict, description } = format;
    return { type: 'json_schema', json_schema: { name, schema, ...(given(strict) ? { strict } : {}), ...(given(description) ? { description } : {}) } };
  }
  throw new UnsupportedField('text.format.type', 'must be text, json_object or json_schema');
}

/** Function tools in chat's form; built-in tools (web search, file search, code interpreter…) are refused. */
function tools(list: unknown): Item[] {
  if (!Array.isArray(list)) throw new UnsupportedField('tools', 'must be a list of tools');
  return list.map((t: Item, i) => {
    if (t?.type !== 'function') {
      throw new UnsupportedField(`tools.${i}.type`, `built-in tools (${JSON.stringify(t?.type)}) are not supported; only function tools are`);
    }
    const fn: Item = { name: t.name, parameters: t.parameters ?? { type: 'object', properties: {} } };
    if (given(t.description)) fn.description = t.description;
    if (given(t.strict)) fn.strict = t.strict;
    return { type: 'function', function: fn };
  });
}

function toolChoice(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  const c = choice as Item;
  if (c?.type === 'function' && typeof c.name === 'string') return { type: 'function', function: { name: c.name } };
  throw new UnsupportedField('tool_choice', 'must be auto, none, required or {type: "function", name}');
}
