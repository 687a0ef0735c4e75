import { randomBytes } from 'node:crypto';
import type { Token } from 'node-llama-cpp';
import { invalidRequest } from '../engine.js';
import { parseSchema, SchemaError, type JsonNode } from './json-grammar.js';
import { refusedRequest } from './sampling.js';

/** A function the client offers, with its parameters read as a grammar node. */
export interface Tool {
  name: string;
  /** The tool as Mistral's prompt format shows it to the model. */
  spec: { type: 'function'; function: { name: string; description?: string; parameters: unknown } };
  parameters: JsonNode;
}

/**
 * What the answer may be: text only, the model's choice, or a call to one of `allowed`.
 * `parallel`: more than one call in one answer.
 */
export type ToolMode =
  { kind: 'none' } | { kind: 'auto'; tools: Tool[]; parallel: boolean } | { kind: 'call'; tools: Tool[]; allowed: Tool[]; parallel: boolean };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  index: number;
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Mistral's `tools`, `tool_choice` and `parallel_tool_calls`, checked. Shape errors are 422, impossible requests 400. */
export function toolModeOf(body: Record<string, unknown>): ToolMode {
  const raw = body.tools;
  if (raw === undefined || raw === null) {
    const choice = body.tool_choice;
    if (choice === 'any' || choice === 'required' || (choice && typeof choice === 'object'))
      throw refusedRequest('tool_choice', `tool_choice '${typeof choice === 'string' ? choice : 'function'}' needs tools, and none were given`);
    return { kind: 'none' };
  }
  if (!Array.isArray(raw)) throw invalidRequest('tools', 'must be an array of {type: "function", function: {name, description, parameters}}');
  const tools = raw.map((t: unknown, i): Tool => {
    const at = `tools.${i}`;
    const fn = (t as { type?: unknown; function?: Record<string, unknown> } | null)?.function;
    const type = (t as { type?: unknown } | null)?.type;
    if (!t || typeof t !== 'object' || (type !== undefined && type !== 'function') || !fn || typeof fn !== 'object')
      throw invalidRequest(at, 'must be {type: "function", function: {name, description, parameters}}');
    if (typeof fn.name !== 'string' || !NAME.test(fn.name)) throw invalidRequest(`${at}.function.name`, 'must be 1-64 characters of a-z, A-Z, 0-9, _ and -');
    if (fn.description !== undefined && fn.description !== null && typeof fn.description !== 'string')
      throw invalidRequest(`${at}.function.description`, 'must be a string');
    const params = fn.parameters ?? { type: 'object', properties: {} };
    let parameters: JsonNode;
    try {
      parameters = parseSchema(params, `${at}.function.parameters`);
    } catch (err) {
      if (err instanceof SchemaError) throw refusedRequest(err.path, `tool '${fn.name}' has parameters this server cannot generate: ${err.message}`);
      throw err;
    }
    if (parameters.kind !== 'object' && parameters.kind !== 'map')
      throw refusedRequest(`${at}.function.parameters`, `tool '${fn.name}': parameters must be a JSON Schema of type object`);
    const spec = {
      type: 'function' as const,
      function: { name: fn.name, ...(typeof fn.description === 'string' ? { description: fn.description } : {}), parameters: params },
    };
    return { name: fn.name, spec, parameters };
  });
  const seen = new Set<string>();
  for (const t of tools) {
    if (seen.has(t.name)) throw refusedRequest('tools', `two tools are named '${t.name}'`);
    seen.add(t.name);
  }
  const parallel = body.parallel_tool_calls !== false;
  const choice = body.tool_choice ?? 'auto';
  if (choice === 'none' || tools.length === 0) {
    if (tools.length === 0 && (choice === 'any' || choice === 'required'))
      throw refusedRequest('tool_choice', `tool_choice '${choice}' needs tools, and the list is empty`);
    return { kind: 'none' };
  }
  if (choice === 'auto') return { kind: 'auto', tools, parallel };
  if (choice === 'any' || choice === 'required') return { kind: 'call', tools, allowed: tools, parallel };
  const named = (choice as { function?: { name?: unknown } } | null)?.function?.name;
  if (typeof choice === 'object' && choice !== null && typeof named === 'string') {
    const tool = tools.find((t) => t.name === named);
    if (!tool) throw refusedRequest('tool_choice', `tool_choice names the function '${named}', which is not in tools`);
    return { kind: 'call', tools, allowed: [tool], parallel: false };
  }
  throw invalidRequest('tool_choice', "must be 'auto', 'none', 'any', 'required' or {type: 'function', function: {name}}");
}

/**
 * How one model writes tool calls: Mistral's `[TOOL_CALLS] [{"name", "arguments"}, …]`, or
 * the syntax of the model's own chat template (template-tools.ts).
 */
export interface ToolSyntax {
  /** Tokens that open the calls, added by the engine when a call is due (the grammar's answer follows). */
  marker: Token[];
  /**
   * A control token with which the model itself opens a call (Mistral's [TOOL_CALLS], a
   * template's `<tool_call>`): in `auto` mode it ends the text and starts the calls. Null when none.
   */
  token: Token | null;
  /** The grammar of the answer after the marker; throws a 400 when the model's syntax cannot be generated. */
  node(allowed: Tool[], parallel: boolean): JsonNode;
  /** The calls in an answer generated under `node`. */
  parse(text: string, allowed: Tool[]): ToolCall[];
}

/** Mistral's syntax, with the model's own [TOOL_CALLS] token when it has one. */
export const mistralToolSyntax = (marker: Token[], token: Token | null): ToolSyntax => ({
  marker,
  token,
  node: toolCallNode,
  parse: parseToolCalls,
});

/** Parallel calls in one answer, at most. */
const MAX_PARALLEL_CALLS = 4;

/** The grammar node of a tool-call answer: `[{"name": …, "arguments": {…}}, …]`, as Mistral's models write it after [TOOL_CALLS]. */
export function toolCallNode(allowed: Tool[], parallel: boolean): JsonNode {
  const call = (t: Tool): JsonNode => ({
    kind: 'object',
    props: [
      ['name', { kind: 'literal', values: [t.name] }],
      ['arguments', t.parameters],
    ],
  });
  const item = allowed.length === 1 ? call(allowed[0]!) : { kind: 'oneOf' as const, options: allowed.map(call) };
  return { kind: 'array', item, min: 1, max: parallel ? MAX_PARALLEL_CALLS : 1 };
}

/** Mistral's tool-call ids: 9 characters of [a-zA-Z0-9]. */
export function toolCallId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return [...randomBytes(9)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** The calls in a grammar-constrained answer; arguments as a JSON string, as Mistral returns them. */
export function parseToolCalls(text: string): ToolCall[] {
  const calls = JSON.parse(text) as { name: string; arguments: unknown }[];
  return calls.map((c, index) => ({ id: toolCallId(), type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) }, index }));
}
