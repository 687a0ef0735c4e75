import type { Endpoint } from '../../engines/endpoints.js';
import { hexId } from './ids.js';

type Body = Record<string, any>;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Token counts as OpenAI reports them on chat and text completions. */
function completionUsage(u: Body | undefined) {
  const prompt = Number(u?.prompt_tokens ?? 0);
  const completion = Number(u?.completion_tokens ?? 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: Number(u?.total_tokens ?? prompt + completion),
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

/** Mistral's content is a string or a chunk list (reasoning models answer thinking, then text): OpenAI's message reads the text. */
function textOf(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  return content
    .filter((c: Body) => c?.type === 'text' && typeof c.text === 'string')
    .map((c: Body) => c.text as string)
    .join('');
}

/** OpenAI's tool call: arguments always a JSON string. */
function toolCall(t: Body) {
  const args = t.function?.arguments;
  return { id: t.id, type: 'function', function: { name: t.function?.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) } };
}

export function chatCompletion(b: Body) {
  return {
    id: typeof b.id === 'string' && b.id.startsWith('chatcmpl-') ? b.id : hexId('chatcmpl-'),
    object: 'chat.completion',
    created: typeof b.created === 'number' ? b.created : nowSeconds(),
    model: b.model,
    choices: ((b.choices ?? []) as Body[]).map((c, i) => {
      const calls = Array.isArray(c.message?.tool_calls) && c.message.tool_calls.length > 0 ? (c.message.tool_calls as Body[]).map(toolCall) : undefined;
      const text = textOf(c.message?.content);
      return {
        index: c.index ?? i,
        message: {
          role: 'assistant',
          content: calls && !text ? null : text,
          refusal: null,
          ...(calls ? { tool_calls: calls } : {}),
          annotations: [],
        },
        logprobs: null,
        finish_reason: c.finish_reason ?? 'stop',
      };
    }),
    usage: completionUsage(b.usage),
    service_tier: 'default',
    system_fingerprint: null,
  };
}

/** Mistral's FIM answer (a chat-shaped body) as OpenAI's legacy text_completion. */
export function textCompletion(b: Body) {
  return {
    id: hexId('cmpl-'),
    object: 'text_completion',
    created: typeof b.created === 'number' ? b.created : nowSeconds(),
    model: b.model,
    choices: ((b.choices ?? []) as Body[]).map((c, i) => ({
      text: textOf(c.message?.content) ?? '',
      index: c.index ?? i,
      logprobs: null,
      finish_reason: c.finish_reason ?? 'stop',
    })),
    usage: completionUsage(b.usage),
  };
}

export function embeddingList(b: Body) {
  const prompt = Number(b.usage?.prompt_tokens ?? 0);
  return {
    object: 'list',
    data: ((b.data ?? []) as Body[]).map((d, i) => ({ object: 'embedding', index: d.index ?? i, embedding: d.embedding })),
    model: b.model,
    usage: { prompt_tokens: prompt, total_tokens: Number(b.usage?.total_tokens ?? prompt) },
  };
}

/**
 * Mistral's nine moderation categories read as OpenAI's thirteen: each OpenAI category
 * takes the score of the Mistral category that covers it (Mistral's health, financial,
 * law and pii have no OpenAI counterpart and are not shown). Flagged at 0.5, as batchd
 * flags Mistral's.
 */
const CATEGORY_SOURCE: Record<string, string> = {
  sexual: 'sexual',
  'sexual/minors': 'sexual',
  harassment: 'hate_and_discrimination',
  'harassment/threatening': 'violence_and_threats',
  hate: 'hate_and_discrimination',
  'hate/threatening': 'violence_and_threats',
  illicit: 'dangerous_and_criminal_content',
  'illicit/violent': 'dangerous_and_criminal_content',
  'self-harm': 'selfharm',
  'self-harm/intent': 'selfharm',
  'self-harm/instructions': 'selfharm',
  violence: 'violence_and_threats',
  'violence/graphic': 'violence_and_threats',
};

export function moderation(b: Body) {
  return {
    id: hexId('modr-'),
    model: b.model,
    results: ((b.results ?? []) as Body[]).map((r) => {
      const scores = Object.fromEntries(Object.entries(CATEGORY_SOURCE).map(([c, from]) => [c, Number(r.category_scores?.[from] ?? 0)]));
      const categories = Object.fromEntries(Object.entries(scores).map(([c, s]) => [c, s >= 0.5]));
      const applied = Object.fromEntries(Object.keys(CATEGORY_SOURCE).map((c) => [c, ['text']]));
      return { flagged: Object.values(categories).some(Boolean), categories, category_scores: scores, category_applied_input_types: applied };
    }),
  };
}

/** The engine's (Mistral-shaped) answer to a request of `endpoint`, in OpenAI's response shape. */
export function toOpenAiBody(body: unknown, endpoint: Endpoint): unknown {
  if (!body || typeof body !== 'object') return body;
  switch (endpoint) {
    case '/v1/chat/completions':
      return chatCompletion(body as Body);
    case '/v1/fim/completions':
      return textCompletion(body as Body);
    case '/v1/embeddings':
      return embeddingList(body as Body);
    case '/v1/moderations':
      return moderation(body as Body);
    default:
      return body;
  }
}
