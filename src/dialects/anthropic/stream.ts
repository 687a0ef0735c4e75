import type { FastifyReply } from 'fastify';
import { SseStream } from '../../api/sse.js';
import type { Engine, EngineRequest, StreamPiece } from '../../engines/engine.js';
import { anthropicError } from './errors.js';
import { answerOf, messageId, toolUseBlock, usageOf } from './message.js';

/**
 * Cuts a prefill off the start of the streamed text: Mistral's engines repeat the prefix of
 * the last assistant turn, Anthropic's answer only continues it.
 */
function prefillCutter(prefill: string) {
  let rest = prefill;
  return (text: string): string => {
    if (rest === '') return text;
    if (text.startsWith(rest)) {
      const out = text.slice(rest.length);
      rest = '';
      return out;
    }
    if (rest.startsWith(text)) {
      rest = rest.slice(text.length);
      return '';
    }
    rest = '';
    return text;
  };
}

/**
 * Anthropic's server-sent events for one message: message_start, then per content block
 * content_block_start / content_block_delta… / content_block_stop (text as it is generated,
 * each tool call whole as one input_json_delta), message_delta with the stop reason and
 * usage, message_stop. Headers go out with the first piece, so a request the engine refuses
 * still gets a normal error; a failure after that ends the stream with an `error` event.
 */
export async function streamMessage(reply: FastifyReply, engine: Engine, request: EngineRequest, signal: AbortSignal, prefill: string) {
  const id = messageId();
  const model = String(request.body.model);
  const sse = new SseStream(reply, () => {
    const message = { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, stop_details: null, container: null };
    event('message_start', {
      message: { ...message, usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
    });
  });
  const event = (type: string, data: Record<string, unknown>) => sse.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  const cut = prefillCutter(prefill);
  let block = -1;
  let textOpen = false;
  const text = (piece: string) => {
    if (!textOpen) {
      textOpen = true;
      event('content_block_start', { index: ++block, content_block: { type: 'text', text: '', citations: null } });
    }
    if (piece) event('content_block_delta', { index: block, delta: { type: 'text_delta', text: piece } });
  };
  const send = (piece: StreamPiece) => {
    sse.open();
    // Reasoning has no block here: thinking is refused in the request (request.ts), so only a model's own would reach this.
    if (typeof piece !== 'string') return;
    const t = cut(piece);
    if (t) text(t);
  };
  // A failure once the stream is open ends it with Anthropic's error event.
  const result = await sse.run(
    engine,
    request,
    signal,
    send,
    (failure) => `event: error\ndata: ${JSON.stringify(anthropicError(failure.status, failure.message))}\n\n`,
  );
  if (!result) return reply;
  const { calls, stopReason } = answerOf(result.body);
  // A message always has content: an empty text block when the answer had neither text nor calls.
  if (calls.length === 0 && !textOpen) text('');
  if (textOpen) event('content_block_stop', { index: block });
  for (const call of calls) {
    const { input, ...head } = toolUseBlock(call);
    event('content_block_start', { index: ++block, content_block: { ...head, input: {} } });
    event('content_block_delta', { index: block, delta: { type: 'input_json_delta', partial_json: JSON.stringify(input) } });
    event('content_block_stop', { index: block });
  }
  const usage = usageOf(result.body, 'standard');
  event('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: null, stop_details: null, container: null },
    usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens },
  });
  event('message_stop', {});
  sse.end();
  return reply;
}
