import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { completionId, type StreamPiece, type Usage } from '../engine.js';
import { generate, type Grammars } from './generate.js';
import { anyJsonObject, compileGrammar, maxBytes, parseSchema, SchemaError, type JsonNode } from './json-grammar.js';
import type { ChatPrompt, PromptFormatter } from './prompts.js';
import { refusedRequest, contextTooLong, type Sampling } from './sampling.js';
import type { ToolCall, ToolMode } from './tools.js';

/** One choice of a chat answer. */
export interface ChatAnswer {
  text: string;
  /** Reasoning, for a reasoning model asked to think; null otherwise. */
  thinking: string | null;
  toolCalls: ToolCall[] | null;
  finishReason: 'stop' | 'length' | 'tool_calls';
  completionTokens: number;
}

/**
 * Tokens of reasoning per `reasoning_effort`, at most: the thinking counts toward
 * max_tokens, and a reasoning trace replayed in the next turn must leave that turn room.
 */
const THINKING_BUDGET = { minimal: 128, low: 256, medium: 512, high: 1024, xhigh: 2048 } as const;
type Effort = keyof typeof THINKING_BUDGET;

/** Everything about a chat request that can be refused before a sequence is taken. */
export interface ChatPlan {
  prompt: ChatPrompt;
  sampling: Sampling;
  tools: ToolMode;
  /** The grammar of a tool-call answer in the model's syntax, when tools are offered. */
  calls: JsonNode | null;
  /** response_format json_object / json_schema, as a grammar node. */
  format: JsonNode | null;
  /** Reasoning tokens at most, or null when the answer does not reason. */
  thinking: number | null;
  /** Completion tokens the request may use: max_tokens, or what the context leaves. */
  budget: number;
  /** Tokens the answer needs at least after any reasoning (a forced grammar's smallest answer). */
  reserve: number;
}

export interface ModelTraits {
  name: string;
  /** A reasoning model (Magistral, Medium 3.5…): reasoning_effort turns thinking on. */
  reasons: boolean;
}

/**
 * Checks a chat request, its prompt already tokenized (tokenizer.ts, with the request's
 * `tools` as toolModeOf read them), against the model and its context.
 */
export function planChat(
  prompt: ChatPrompt,
  tools: ToolMode,
  formatter: PromptFormatter,
  body: Record<string, unknown>,
  sampling: Sampling,
  model: ModelTraits,
  contextSize: number,
): ChatPlan {
  if (prompt.tokens.length >= contextSize) {
    throw contextTooLong(
      'messages',
      `the prompt is ${prompt.tokens.length} tokens; this model's context holds ${contextSize} tokens per request, prompt and completion together`,
    );
  }
  const budget = Math.min(sampling.maxTokens ?? Infinity, contextSize - prompt.tokens.length);
  const format = formatNode(sampling);
  const effort = reasoningEffort(body, model);
  const thinking = effort ? THINKING_BUDGET[effort] : null;
  // Built here, so that a model whose syntax cannot be generated refuses tools before a sequence is taken.
  const calls = tools.kind === 'none' ? null : formatter.tools.node(tools.kind === 'call' ? tools.allowed : tools.tools, tools.parallel);
  // The answer's grammar must fit whatever reasoning leaves: checked here, with the smallest sizes.
  const forced = tools.kind === 'call' ? calls : format;
  let reserve = 1;
  if (forced && prompt.prefix === '') {
    const least = maxBytes(forced, { chars: 0, items: 0 }) + (tools.kind === 'call' ? formatter.tools.marker.length : 0);
    reserve = least;
    if (least > budget) {
      const what = tools.kind === 'call' ? 'tool_choice' : 'response_format';
      throw refusedRequest(
        what,
        `the smallest ${tools.kind === 'call' ? 'tool call' : 'answer of this format'} can need up to ${least} tokens, but only ${budget} are available (max_tokens, or the context after a ${prompt.tokens.length}-token prompt)`,
      );
    }
  }
  return { prompt, sampling, tools, calls, format, thinking, budget, reserve };
}

function formatNode(sampling: Sampling): JsonNode | null {
  if (!sampling.json) return null;
  if (sampling.json.schema === null) return anyJsonObject();
  try {
    return parseSchema(sampling.json.schema, 'response_format.json_schema.schema');
  } catch (err) {
    if (err instanceof SchemaError) throw refusedRequest(err.path, `response_format cannot be satisfied: ${err.message}`);
    throw err;
  }
}

function reasoningEffort(body: Record<string, unknown>, model: ModelTraits): Effort | null {
  const effort = body.reasoning_effort;
  if (effort !== undefined && effort !== null && effort !== 'none' && !(typeof effort === 'string' && effort in THINKING_BUDGET)) {
    throw refusedRequest('reasoning_effort', "must be one of 'none', 'minimal', 'low', 'medium', 'high', 'xhigh'");
  }
  if (!model.reasons) return null;
  if (typeof effort === 'string' && effort in THINKING_BUDGET) return effort as Effort;
  // Magistral's way of asking for reasoning.
  if (effort === undefined && body.prompt_mode === 'reasoning') return 'medium';
  return null;
}

export interface AnswerInput {
  model: LlamaModel;
  formatter: PromptFormatter;
  grammars: Grammars;
  seq: LlamaContextSequence;
  plan: ChatPlan;
  choice: number;
  online: boolean;
  signal: AbortSignal;
  onDelta?: (piece: StreamPiece) => void;
}

/**
 * One answer in up to three phases on one sequence: reasoning between [THINK] markers
 * (reasoning models asked to think); then either text, or — when the request forces a
 * tool call, or leaves it to the model and the model chooses one — the model's call
 * marker (`[TOOL_CALLS]`, or its template's call prefix such as `<tool_call>`) followed by
 * calls generated under a grammar of the tools' parameter schemas. A
 * response_format holds the text to its JSON grammar. Every grammar is sized to the
 * tokens left, so the JSON always closes within max_tokens.
 */
export async function answerChat(a: AnswerInput): Promise<ChatAnswer> {
  const { plan, formatter } = a;
  const m = formatter.markers;
  const base = { model: a.model, seq: a.seq, sampling: plan.sampling, choice: a.choice, online: a.online, signal: a.signal };
  let tokens: Token[] = plan.prompt.tokens;
  let used = 0;
  let thinking: string | null = null;
  const left = () => Math.min(plan.budget - used, a.seq.contextSize - tokens.length);

  // The [THINK] markers count as completion tokens, as they do for a model that writes them itself.
  const markerCost = m.think.length + m.endThink.length;
  // Reasoning leaves the answer room for at least its smallest form (a forced grammar's, or one token).
  const thinkingLimit = plan.thinking === null || plan.prompt.prefix !== '' ? 0 : Math.min(plan.thinking, left() - markerCost - plan.reserve);
  if (thinkingLimit > 0) {
    tokens = [...tokens, ...m.think];
    const r = await generate({
      ...base,
      prompt: tokens,
      limit: thinkingLimit,
      endTokens: m.endThink.length === 1 ? m.endThink : [],
      continuesPrefix: false,
      onDelta: a.onDelta && ((text) => a.onDelta!({ thinking: text })),
    });
    thinking = r.text;
    used += r.completionTokens + markerCost;
    tokens = [...tokens, ...r.tokens, ...m.endThink];
  } else if (plan.thinking !== null) thinking = '';

  let call = plan.tools.kind === 'call';
  let text = '';
  if (plan.tools.kind === 'auto' && plan.prompt.prefix === '') {
    if (formatter.tools.token !== null) {
      // The model says itself whether it calls a tool: its [TOOL_CALLS] (or <tool_call>) token ends the text.
      const r = await generate({
        ...base,
        prompt: tokens,
        limit: left(),
        grammar: null,
        endTokens: [formatter.tools.token],
        continuesPrefix: false,
        onDelta: a.onDelta,
      });
      used += r.completionTokens;
      if (r.endToken === null) return { text: r.text, thinking, toolCalls: null, finishReason: r.finishReason, completionTokens: used };
      text = r.text;
      tokens = [...tokens, ...r.tokens];
      call = true;
    } else {
      // A model without a tool-call token cannot signal the choice: a user turn is
      // answered with a call, a tool result with text.
      call = plan.prompt.lastRole !== 'tool';
    }
  }

  if (call && plan.tools.kind !== 'none' && plan.calls) {
    const allowed = plan.tools.kind === 'call' ? plan.tools.allowed : plan.tools.tools;
    // The marker counts as completion tokens: a model that opens the call with its own token writes its first one.
    tokens = [...tokens, ...formatter.tools.marker];
    used += formatter.tools.marker.length;
    const node = plan.calls;
    // An auto call the budget can no longer hold ends the answer where it stands.
    if (maxBytes(node, { chars: 0, items: 0 }) > left()) return { text, thinking, toolCalls: null, finishReason: 'length', completionTokens: used };
    const r = await generateJson(a, base, tokens, node, left(), 'tool_choice', undefined);
    used += r.completionTokens;
    if (r.finishReason === 'length') return { text: text + r.text, thinking, toolCalls: null, finishReason: 'length', completionTokens: used };
    return { text, thinking, toolCalls: formatter.tools.parse(r.text, allowed), finishReason: 'tool_calls', completionTokens: used };
  }

  if (plan.format && plan.prompt.prefix === '') {
    const r = await generateJson(a, base, tokens, plan.format, left(), 'response_format', a.onDelta);
    return { text: r.text, thinking, toolCalls: null, finishReason: r.finishReason, completionTokens: used + r.completionTokens };
  }
  const r = await generate({ ...base, prompt: tokens, limit: left(), continuesPrefix: plan.prompt.prefix !== '', onDelta: a.onDelta });
  return { text: r.text, thinking, toolCalls: null, finishReason: r.finishReason, completionTokens: used + r.completionTokens };
}

async function generateJson(
  a: AnswerInput,
  base: Omit<Parameters<typeof generate>[0], 'prompt' | 'limit' | 'continuesPrefix'>,
  tokens: Token[],
  node: JsonNode,
  budget: number,
  param: string,
  onDelta: ((piece: StreamPiece) => void) | undefined,
) {
  let compiled;
  try {
    compiled = compileGrammar(node, budget, param);
  } catch (err) {
    if (err instanceof SchemaError) throw refusedRequest(param, err.message);
    throw err;
  }
  const grammar = await a.grammars.get(compiled.gbnf);
  return generate({ ...base, prompt: tokens, limit: budget, grammar, continuesPrefix: false, onDelta });
}

/**
 * Mistral's ChatCompletionResponse; FIM answers with the same shape and object name. A
 * reasoning answer's content is Mistral's chunk list (thinking, then text); a tool-call
 * answer has empty content, the calls, and finish_reason "tool_calls".
 */
export function completionBody(modelName: string, answers: ChatAnswer[], usage: Usage, prefix = '') {
  return {
    id: completionId(),
    object: 'chat.completion',
    model: modelName,
    created: Math.floor(Date.now() / 1000),
    choices: answers.map((c, index) => ({
      index,
      message: {
        role: 'assistant',
        content:
          c.thinking === null
            ? prefix + c.text
            : [
                { type: 'thinking', thinking: [{ type: 'text', text: c.thinking }] },
                { type: 'text', text: prefix + c.text },
              ],
        tool_calls: c.toolCalls,
      },
      finish_reason: c.finishReason,
    })),
    usage,
  };
}
