import { randomUUID } from 'node:crypto';
import { textOf } from '../../engines/engine.js';

type Body = Record<string, unknown>;

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

export interface TextBlock {
  type: 'text';
  text: string;
  citations: null;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
  caller: { type: 'direct' };
}

/** Anthropic's Message object, as the SDK reads it (`messages.create`, a batch's succeeded result). */
export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: (TextBlock | ToolUseBlock)[];
  stop_reason: StopReason;
  stop_sequence: string | null;
  stop_details: null;
  container: null;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
    service_tier: 'standard' | 'batch';
  };
}

/**
 * Mistral's finish reasons as Anthropic's stop reasons. The engines report a stop string
 * and end-of-sequence alike as `stop`, so an answer cut by one of stop_sequences reads as
 * end_turn (with stop_sequence null).
 */
const STOP_REASONS: Record<string, StopReason> = { stop: 'end_turn', length: 'max_tokens', model_length: 'max_tokens', tool_calls: 'tool_use' };

/** Ids in Anthropic's form, keeping the engine's 32 hex digits where it gave a `cmpl-` id. */
export const messageId = (engineId?: unknown) => {
  const hex = typeof engineId === 'string' ? /^cmpl-([0-9a-f]{32})$/.exec(engineId)?.[1] : undefined;
  return `msg_${hex ?? randomUUID().replace(/-/g, '')}`;
};
const toolUseId = (callId: unknown) =>
  typeof callId === 'string' && callId.startsWith('toolu_')
    ? callId
    : `toolu_${typeof callId === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(callId) ? callId : randomUUID().replace(/-/g, '')}`;

function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string') return args ?? {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return { arguments: args };
  }
}

/** A tool call of Mistral's answer as a tool_use block. */
export function toolUseBlock(call: unknown): ToolUseBlock {
  const c = (call ?? {}) as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
  return {
    type: 'tool_use',
    id: toolUseId(c.id),
    name: String(c.function?.name ?? ''),
    input: parseArguments(c.function?.arguments),
    caller: { type: 'direct' },
  };
}

/** The parts of a Mistral chat completion's first choice that make an Anthropic message. */
export function answerOf(body: Body): { text: string; calls: unknown[]; stopReason: StopReason } {
  const choice = (body.choices as { message?: { content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[] | undefined)?.[0];
  const calls = Array.isArray(choice?.message?.tool_calls) ? (choice.message.tool_calls as unknown[]) : [];
  const reason = STOP_REASONS[String(choice?.finish_reason)] ?? 'end_turn';
  return { text: textOf(choice?.message?.content), calls, stopReason: calls.length ? 'tool_use' : reason };
}

export function usageOf(body: Body, tier: 'standard' | 'batch'): AnthropicMessage['usage'] {
  const u = (body.usage ?? {}) as { prompt_tokens?: unknown; completion_tokens?: unknown };
  return {
    input_tokens: Number(u.prompt_tokens ?? 0),
    output_tokens: Number(u.completion_tokens ?? 0),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    service_tier: tier,
  };
}

/**
 * A Mistral chat completion (what the engines answer) as Anthropic's Message: text first
 * (left out when empty beside tool calls, as Claude's tool turns often are), then one
 * tool_use block per call with its arguments parsed. `prefill`, the text of a last
 * assistant turn, is cut from the answer's start: Mistral repeats it, Anthropic does not.
 */
export function toAnthropicMessage(body: Body, tier: 'standard' | 'batch', prefill = ''): AnthropicMessage {
  const { text, calls, stopReason } = answerOf(body);
  const answer = prefill && text.startsWith(prefill) ? text.slice(prefill.length) : text;
  const content: AnthropicMessage['content'] = [];
  if (answer !== '' || calls.length === 0) content.push({ type: 'text', text: answer, citations: null });
  content.push(...calls.map(toolUseBlock));
  return {
    id: messageId(body.id),
    type: 'message',
    role: 'assistant',
    model: String(body.model ?? ''),
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    stop_details: null,
    container: null,
    usage: usageOf(body, tier),
  };
}
