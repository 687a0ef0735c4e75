import {
  JinjaTemplateChatWrapper,
  LlamaText,
  resolveChatWrapper,
  type ChatModelFunctions,
  type ChatWrapper,
  type GbnfJsonSchema,
  type LlamaModel,
} from 'node-llama-cpp';
import type { JsonNode } from './json-grammar.js';
import { refusedRequest } from './sampling.js';
import { toolCallId, type Tool, type ToolSyntax } from './tools.js';

/**
 * The chat wrapper of a model with a template of its own (not Mistral's). When the template
 * writes tool calls itself (Qwen 2.5's `<tool_call>`, Llama 3.1's `{"name", "parameters"}`…),
 * node-llama-cpp's Jinja wrapper, which reads that syntax out of the template: tools, calls
 * and results then reach the model exactly as its template writes them. Otherwise the
 * wrapper node-llama-cpp resolves for the model, with that wrapper's own function syntax.
 */
export function templateWrapper(model: LlamaModel, template: string): ChatWrapper {
  try {
    const jinja = new JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer });
    if (jinja.usingJinjaFunctionCallTemplate) return jinja;
  } catch {
    // A template the Jinja wrapper cannot read: node-llama-cpp's resolution picks another.
  }
  return resolveChatWrapper(model);
}

/** The client's tools as node-llama-cpp's functions (the wrapper documents them in the prompt). */
export function functionsOf(tools: unknown[]): ChatModelFunctions {
  const functions: Record<string, { description?: string; params?: GbnfJsonSchema }> = {};
  for (const t of tools as Tool['spec'][]) {
    const { name, description, parameters } = t.function;
    functions[name] = { ...(description !== undefined ? { description } : {}), params: parameters as GbnfJsonSchema };
  }
  return functions;
}

/**
 * Tool calls in the wrapper's syntax: `prefix name paramsPrefix {arguments} suffix`. The
 * engine adds the prefix; the grammar holds the model to one of the allowed names, the
 * params prefix and arguments valid for that tool's schema; the suffix is the template's
 * to write when the call is replayed. One call per answer (node-llama-cpp writes parallel
 * calls with separators that are control tokens in some templates, which a grammar cannot emit).
 */
export function templateToolSyntax(model: LlamaModel, wrapper: ChatWrapper): ToolSyntax {
  const call = wrapper.settings.functions.call;
  const marker = LlamaText([wrapper.settings.functions.parallelism?.call.sectionPrefix ?? '', call.prefix]).tokenize(model.tokenizer);
  const paramsPrefix = LlamaText(call.paramsPrefix);
  const between = paramsPrefix.toString();
  // Text only: a grammar writes text, never a control token.
  const plain = model.tokenize(between, true).every((t) => !model.isSpecialToken(t));
  const first = marker[0];
  const token = first !== undefined && model.isSpecialToken(first) && !model.isEogToken(first) ? first : null;
  return {
    marker,
    token,
    node(allowed: Tool[]): JsonNode {
      if (!plain)
        throw refusedRequest('tools', `this model's chat template (${wrapper.wrapperName}) writes tool calls with control tokens this server cannot generate`);
      const options = allowed.map((t): JsonNode => ({ kind: 'seq', parts: [{ kind: 'text', text: t.name + between }, t.parameters] }));
      return options.length === 1 ? options[0]! : { kind: 'oneOf', options };
    },
    parse(text: string, allowed: Tool[]) {
      // The longest name first: "get" must not take the call of "get_all".
      const tool = [...allowed].sort((a, b) => b.name.length - a.name.length).find((t) => text.startsWith(t.name + between));
      if (!tool) throw new Error(`a tool call outside its grammar: ${text}`);
      const args: unknown = JSON.parse(text.slice(tool.name.length + between.length));
      return [{ id: toolCallId(), type: 'function', function: { name: tool.name, arguments: JSON.stringify(args) }, index: 0 }];
    },
  };
}
