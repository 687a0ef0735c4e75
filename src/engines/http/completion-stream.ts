import { completionText, textOf, type EngineRequest } from '../engine.js';
import type { UpstreamClient } from './upstream-client.js';

type Body = Record<string, unknown>;

/**
 * Whether a completion can be streamed piece by piece from an upstream: one choice of
 * text. Tool calls and n > 1 arrive whole (their deltas would need reassembling into
 * the same objects a non-streamed call returns, for no gain to a client of one stream).
 */
export function streamable(req: EngineRequest): boolean {
  const b = req.body;
  return (req.endpoint === '/v1/chat/completions' || req.endpoint === '/v1/fim/completions') && !b.tools && !(typeof b.n === 'number' && b.n > 1);
}

/**
 * Streams a chat or FIM completion from an upstream — OpenAI-compatible servers and
 * Mistral send the same chunk shape (`choices[0].delta.content`, or `text` for
 * /v1/completions; usage on the last chunk) — passing each piece of text on as it
 * arrives, and returns the whole completion as the non-streamed call would have.
 */
export async function streamCompletion(client: UpstreamClient, path: string, body: Body, signal: AbortSignal, onDelta: (text: string) => void): Promise<Body> {
  let id: unknown;
  let created: unknown;
  let content = '';
  let finish: unknown = null;
  let usage: unknown;
  const plain = await client.postEventStream(path, { ...body, stream: true }, signal, (event) => {
    id ??= event.id;
    created ??= event.created;
    if (event.usage) usage = event.usage;
    const choice = (event.choices as { delta?: { content?: unknown }; text?: unknown; finish_reason?: unknown }[] | undefined)?.[0];
    if (!choice) return;
    const piece = textOf(choice.delta?.content ?? choice.text);
    if (piece) {
      content += piece;
      onDelta(piece);
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  });
  if (plain) {
    onDelta(completionText(plain));
    return plain;
  }
  return {
    id,
    object: 'chat.completion',
    created,
    choices: [{ index: 0, message: { role: 'assistant', content, tool_calls: null }, finish_reason: finish ?? 'stop' }],
    usage,
  };
}
