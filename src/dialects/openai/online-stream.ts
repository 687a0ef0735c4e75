import type { FastifyReply } from 'fastify';
import { SseStream } from '../../api/sse.js';
import type { InferenceBody } from '../../api/online-route.js';
import type { Engine, EngineRequest, StreamPiece } from '../../engines/engine.js';
import type { ApiError } from '../../errors.js';
import { toOpenAiError } from './errors.js';
import { hexId } from './ids.js';
import { chatCompletion, textCompletion } from './responses.js';
import { finishedResponse, functionCallItem, messageItem, outputText, responseFrame, type ResponseEcho } from './response-object.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A failure once a chat-style stream is open: one `data:` event with OpenAI's error body, which the SDK throws as an APIError. */
const errorData = (failure: ApiError) => `data: ${JSON.stringify(toOpenAiError(failure.toBody()))}\n\n`;

/**
 * OpenAI's legacy completion stream: `text_completion` chunks, one per piece of text as it is
 * generated, a last one with finish_reason, a usage chunk (`choices: []`) when
 * stream_options.include_usage asks for it, then `data: [DONE]`.
 */
export async function streamTextCompletion(reply: FastifyReply, engine: Engine, request: EngineRequest, signal: AbortSignal, body: InferenceBody) {
  const id = hexId('cmpl-');
  const created = nowSeconds();
  const model = String(request.body.model);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices, ...extra })}\n\n`;
  const text = (t: string, finish: string | null) => chunk([{ text: t, index: 0, logprobs: null, finish_reason: finish }]);
  const sse = new SseStream(reply);
  const send = (piece: StreamPiece) => {
    sse.open();
    // A completion has text only: reasoning, if a model gives any, is not part of it.
    if (typeof piece === 'string' && piece) sse.write(text(piece, null));
  };
  const result = await sse.run(engine, request, signal, send, errorData);
  if (!result) return reply;
  const answer = textCompletion(result.body);
  sse.write(text('', answer.choices[0]?.finish_reason ?? 'stop'));
  const wantsUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  if (wantsUsage) sse.write(chunk([], { usage: answer.usage }));
  sse.end('data: [DONE]\n\n');
  return reply;
}

/**
 * The Responses API's stream: response.created and response.in_progress; the text as one
 * message item (output_item.added, content_part.added, output_text.delta per piece,
 * output_text.done, content_part.done, output_item.done), opened with the first text; each
 * function call as a function_call item with its arguments in one delta; response.completed
 * (or response.incomplete when the budget ran out) with the whole Response object. Every
 * event carries its sequence_number. A failure once the stream is open ends it with an
 * `error` event.
 */
export async function streamResponse(reply: FastifyReply, engine: Engine, request: EngineRequest, signal: AbortSignal, body: InferenceBody) {
  const frame = responseFrame(hexId('resp_'), request.body.model, nowSeconds(), body as ResponseEcho);
  let seq = 0;
  const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: seq++ })}\n\n`;
  const sse = new SseStream(reply, () => {
    sse.write(event('response.created', { response: frame }));
    sse.write(event('response.in_progress', { response: frame }));
  });
  const msgId = hexId('msg_');
  const part = { item_id: msgId, output_index: 0, content_index: 0 };
  let text: string | null = null;
  const send = (piece: StreamPiece) => {
    sse.open();
    if (typeof piece !== 'string' || !piece) return;
    if (text === null) openMessage();
    text += piece;
    sse.write(event('response.output_text.delta', { ...part, delta: piece, logprobs: [] }));
  };
  const openMessage = () => {
    text = '';
    sse.write(event('response.output_item.added', { output_index: 0, item: messageItem(msgId, '', 'in_progress') }));
    sse.write(event('response.content_part.added', { ...part, part: outputText('') }));
  };
  const result = await sse.run(engine, request, signal, send, (failure) => {
    const { error } = toOpenAiError(failure.toBody());
    return event('error', { code: error.code, message: error.message, param: error.param });
  });
  if (!result) return reply;
  const chat = chatCompletion(result.body);
  const calls = (chat.choices[0]?.message.tool_calls ?? []) as Record<string, any>[];
  const output: Record<string, unknown>[] = [];
  // A response always has output: an empty message when the answer had neither text nor calls.
  if (text === null && calls.length === 0) openMessage();
  if (text !== null) {
    const done = messageItem(msgId, text, 'completed');
    sse.write(event('response.output_text.done', { ...part, text, logprobs: [] }));
    sse.write(event('response.content_part.done', { ...part, part: outputText(text) }));
    sse.write(event('response.output_item.done', { output_index: 0, item: done }));
    output.push(done);
  }
  for (const call of calls) {
    const item = functionCallItem(call);
    const output_index = output.length;
    sse.write(event('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } }));
    sse.write(event('response.function_call_arguments.delta', { item_id: item.id, output_index, delta: item.arguments }));
    sse.write(event('response.function_call_arguments.done', { item_id: item.id, output_index, name: item.name, arguments: item.arguments }));
    sse.write(event('response.output_item.done', { output_index, item }));
    output.push(item);
  }
  const response = finishedResponse(frame, result.body, output);
  sse.end(event(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response }));
  return reply;
}
