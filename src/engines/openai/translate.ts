import { randomUUID } from 'node:crypto';
import type { Usage } from '../engine.js';

/** Mistral chat fields an OpenAI-compatible server understands. */
const CHAT_FIELDS = ['messages', 'temperature', 'top_p', 'max_tokens', 'stop', 'response_format', 'tools', 'presence_penalty', 'frequency_penalty', 'n', 'parallel_tool_calls'] as const;

/** Mistral ChatCompletionRequest → OpenAI chat body. Mistral-only fields (safe_prompt, prompt_mode, prediction…) are dropped. */
export function toOpenAiChat(body: Record<string, unknown>, upstreamModel: string): Record<string, unknown> {
  const out: Record<string, unknown> = { model: upstreamModel, stream: false };
  for (const f of CHAT_FIELDS) if (body[f] !== undefined && body[f] !== null) out[f] = body[f];
  if (typeof body.random_seed === 'number') out.seed = body.random_seed;
  if (body.tool_choice !== undefined && body.tool_choice !== null) out.tool_choice = body.tool_choice === 'any' ? 'required' : body.tool_choice;
  if (Array.isArray(out.messages)) {
    // `prefix` is Mistral's assistant-prefill flag; OpenAI servers reject unknown message keys.
    out.messages = (out.messages as Record<string, unknown>[]).map((m) => {
      if (!m || typeof m !== 'object' || !('prefix' in m)) return m;
      const { prefix: _prefix, ...rest } = m;
      return rest;
    });
  }
  return out;
}

/** Mistral FIM request → OpenAI /v1/completions with `suffix` (vLLM, llama.cpp server and others accept it). */
export function toOpenAiFim(body: Record<string, unknown>, upstreamModel: string): Record<string, unknown> {
  const out: Record<string, unknown> = { model: upstreamModel, prompt: body.prompt, stream: false };
  if (typeof body.suffix === 'string' && body.suffix !== '') out.suffix = body.suffix;
  for (const f of ['max_tokens', 'temperature', 'top_p', 'stop', 'min_tokens'] as const) if (body[f] !== undefined && body[f] !== null) out[f] = body[f];
  if (typeof body.random_seed === 'number') out.seed = body.random_seed;
  return out;
}

export function toOpenAiEmbeddings(body: Record<string, unknown>, upstreamModel: string): Record<string, unknown> {
  const out: Record<string, unknown> = { model: upstreamModel, input: body.input };
  if (typeof body.output_dimension === 'number') out.dimensions = body.output_dimension;
  if (body.encoding_format === 'base64' || body.encoding_format === 'float') out.encoding_format = body.encoding_format;
  return out;
}

export function usageOf(raw: unknown): Usage {
  const u = (raw ?? {}) as Record<string, unknown>;
  const prompt = Number(u.prompt_tokens ?? 0) || 0;
  const completion = Number(u.completion_tokens ?? 0) || 0;
  const total = Number(u.total_tokens ?? prompt + completion) || prompt + completion;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

interface OpenAiChoice {
  index?: number;
  message?: { content?: unknown; tool_calls?: { id?: string; type?: string; function?: { name?: string; arguments?: unknown } }[] | null };
  text?: string;
  finish_reason?: string | null;
}

/** OpenAI chat or completions response → Mistral's ChatCompletionResponse (FIM uses the same shape). */
export function fromOpenAiCompletion(raw: Record<string, unknown>, clientModel: string): { body: Record<string, unknown>; usage: Usage } {
  const usage = usageOf(raw.usage);
  const choices = (Array.isArray(raw.choices) ? (raw.choices as OpenAiChoice[]) : []).map((c, i) => ({
    index: c.index ?? i,
    message: {
      role: 'assistant',
      content: c.message ? (c.message.content ?? null) : (c.text ?? ''),
      tool_calls: c.message?.tool_calls?.length
        ? c.message.tool_calls.map((t, k) => ({ id: t.id ?? 'null', type: t.type ?? 'function', function: { name: t.function?.name ?? '', arguments: t.function?.arguments ?? '' }, index: k }))
        : null,
    },
    finish_reason: c.finish_reason ?? 'stop',
  }));
  return {
    usage,
    body: {
      id: typeof raw.id === 'string' ? raw.id : randomUUID().replace(/-/g, ''),
      object: 'chat.completion',
      model: clientModel,
      created: typeof raw.created === 'number' ? raw.created : Math.floor(Date.now() / 1000),
      choices,
      usage,
    },
  };
}

export function fromOpenAiEmbeddings(raw: Record<string, unknown>, clientModel: string): { body: Record<string, unknown>; usage: Usage } {
  const u = usageOf(raw.usage);
  const usage = { prompt_tokens: u.prompt_tokens, completion_tokens: 0, total_tokens: u.prompt_tokens };
  const data = (Array.isArray(raw.data) ? (raw.data as { embedding?: unknown; index?: number }[]) : []).map((d, i) => ({
    object: 'embedding',
    embedding: d.embedding,
    index: d.index ?? i,
  }));
  return { usage, body: { id: typeof raw.id === 'string' ? raw.id : randomUUID().replace(/-/g, ''), object: 'list', model: clientModel, data, usage } };
}
