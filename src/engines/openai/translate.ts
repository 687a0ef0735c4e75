import { randomUUID } from 'node:crypto';
import { invalidRequest, type Usage } from '../engine.js';
import { malformedResponse } from '../http/errors.js';
import { usageOf } from '../http/usage.js';

type Body = Record<string, unknown>;

/**
 * Mistral chat fields with the same meaning in OpenAI's API. Everything else is dropped:
 * Mistral-only fields (safe_prompt, prompt_mode, prediction, metadata, guardrails…) are
 * rejected by strict servers and meaningless to the rest; `stream` is always false here.
 */
const CHAT_FIELDS = [
  'temperature',
  'top_p',
  'max_tokens',
  'stop',
  'response_format',
  'tools',
  'presence_penalty',
  'frequency_penalty',
  'n',
  'parallel_tool_calls',
] as const;
const FIM_FIELDS = ['max_tokens', 'min_tokens', 'temperature', 'top_p', 'stop'] as const;

function copy(from: Body, to: Body, fields: readonly string[]): Body {
  for (const f of fields) if (from[f] !== undefined && from[f] !== null) to[f] = from[f];
  if (typeof from.random_seed === 'number') to.seed = from.random_seed;
  return to;
}

/** Mistral ChatCompletionRequest → OpenAI chat body. */
export function toOpenAiChat(body: Body, upstreamModel: string): Body {
  if (!Array.isArray(body.messages)) throw invalidRequest('messages', 'Field required');
  const out = copy(body, { model: upstreamModel, messages: body.messages.map(toOpenAiMessage), stream: false }, CHAT_FIELDS);
  // Mistral's `any` is OpenAI's `required`; the other values and the object form are the same.
  if (body.tool_choice !== undefined && body.tool_choice !== null) out.tool_choice = body.tool_choice === 'any' ? 'required' : body.tool_choice;
  return out;
}

/** Where a Mistral message differs from an OpenAI one; anything else passes as is. */
function toOpenAiMessage(m: unknown): unknown {
  if (!m || typeof m !== 'object') return m;
  // `prefix` (assistant prefill) has no OpenAI counterpart and strict servers reject unknown keys.
  const { prefix: _prefix, ...msg } = m as Body;
  if (Array.isArray(msg.content)) {
    // Mistral allows `image_url: "<url>"`; OpenAI wants `{url}`.
    msg.content = msg.content.map((c: Body) => (c?.type === 'image_url' && typeof c.image_url === 'string' ? { ...c, image_url: { url: c.image_url } } : c));
  }
  if (Array.isArray(msg.tool_calls)) {
    // Mistral allows tool-call arguments as an object; OpenAI wants a JSON string.
    msg.tool_calls = msg.tool_calls.map((t: { function?: Body }) =>
      t?.function && typeof t.function.arguments === 'object' && t.function.arguments !== null
        ? { ...t, function: { ...t.function, arguments: JSON.stringify(t.function.arguments) } }
        : t,
    );
  }
  return msg;
}

/** Mistral FIM request → OpenAI /v1/completions with `suffix` (llama.cpp, Ollama; vLLM refuses a suffix with a 400). */
/** `template` (the registry's fim_template) folds prompt and suffix into one prompt for servers without `suffix`. */
export function toOpenAiFim(body: Body, upstreamModel: string, template?: string): Body {
  if (typeof body.prompt !== 'string') throw invalidRequest('prompt', 'Field required');
  if (body.suffix !== undefined && body.suffix !== null && typeof body.suffix !== 'string') throw invalidRequest('suffix', 'Input should be a valid string');
  if (template) {
    const suffix = typeof body.suffix === 'string' ? body.suffix : '';
    // One pass over the template, so a `{suffix}` inside the user's prompt is not substituted again.
    const prompt = template.replace(/\{(prefix|suffix)\}/g, (_, which: string) => (which === 'prefix' ? (body.prompt as string) : suffix));
    return copy(body, { model: upstreamModel, prompt, stream: false }, FIM_FIELDS);
  }
  const out = copy(body, { model: upstreamModel, prompt: body.prompt, stream: false }, FIM_FIELDS);
  // Mistral's default suffix is ""; sending it empty would needlessly trip servers without suffix support.
  if (typeof body.suffix === 'string' && body.suffix !== '') out.suffix = body.suffix;
  return out;
}

export function toOpenAiEmbeddings(body: Body, upstreamModel: string): Body {
  if (body.input === undefined || body.input === null) throw invalidRequest('input', 'Field required');
  // OpenAI servers only return floats: answering an int8/binary request with floats would be silently wrong.
  if (body.output_dtype !== undefined && body.output_dtype !== null && body.output_dtype !== 'float') {
    throw invalidRequest('output_dtype', `'${String(body.output_dtype)}' is not supported by this model; only 'float' is`);
  }
  const out: Body = { model: upstreamModel, input: body.input };
  if (typeof body.output_dimension === 'number') out.dimensions = body.output_dimension;
  if (body.encoding_format === 'base64' || body.encoding_format === 'float') out.encoding_format = body.encoding_format;
  return out;
}

interface OpenAiChoice {
  index?: number;
  message?: { content?: unknown; tool_calls?: { id?: string; type?: string; function?: { name?: string; arguments?: unknown } }[] | null };
  text?: string;
  finish_reason?: string | null;
}

const newId = () => randomUUID().replace(/-/g, '');

/** OpenAI chat or completions response → Mistral's ChatCompletionResponse (FIM's response has the same shape). */
export function fromOpenAiCompletion(raw: Body, clientModel: string): { body: Body; usage: Usage } {
  if (!Array.isArray(raw.choices)) throw malformedResponse(`no choices in ${JSON.stringify(raw)}`);
  const usage = usageOf(raw.usage);
  const choices = (raw.choices as OpenAiChoice[]).map((c, i) => {
    const calls = c.message?.tool_calls;
    return {
      index: c.index ?? i,
      message: {
        role: 'assistant',
        content: c.message ? (c.message.content ?? null) : (c.text ?? ''),
        tool_calls: calls?.length
          ? calls.map((t, k) => ({
              id: t.id ?? 'null',
              type: t.type ?? 'function',
              function: { name: t.function?.name ?? '', arguments: t.function?.arguments ?? '' },
              index: k,
            }))
          : null,
      },
      finish_reason: c.finish_reason ?? 'stop',
    };
  });
  return {
    usage,
    body: {
      id: typeof raw.id === 'string' ? raw.id : newId(),
      object: 'chat.completion',
      model: clientModel,
      created: typeof raw.created === 'number' ? raw.created : Math.floor(Date.now() / 1000),
      choices,
      usage,
    },
  };
}

export function fromOpenAiEmbeddings(raw: Body, clientModel: string): { body: Body; usage: Usage } {
  if (!Array.isArray(raw.data)) throw malformedResponse(`no data in ${JSON.stringify(raw)}`);
  const prompt = usageOf(raw.usage).prompt_tokens;
  // Embeddings generate nothing: Mistral reports completion_tokens 0 and total = prompt.
  const usage = { prompt_tokens: prompt, completion_tokens: 0, total_tokens: prompt };
  const data = (raw.data as { embedding?: unknown; index?: number }[]).map((d, i) => ({ object: 'embedding', embedding: d.embedding, index: d.index ?? i }));
  return { usage, body: { id: typeof raw.id === 'string' ? raw.id : newId(), object: 'list', model: clientModel, data, usage } };
}
