import { hexId } from './ids.js';
import { chatCompletion } from './responses.js';

type Body = Record<string, any>;

/**
 * The Responses request a Response object echoes (instructions, max_output_tokens,
 * temperature, top_p, text, tools, tool_choice, parallel_tool_calls, metadata); empty where
 * a batch line's answer is rendered without its request, and the defaults show.
 */
export type ResponseEcho = Record<string, unknown>;

const or = (v: unknown, fallback: unknown) => (v === undefined || v === null ? fallback : v);

export function responseUsage(u: Body | undefined) {
  const input = Number(u?.prompt_tokens ?? 0);
  const output = Number(u?.completion_tokens ?? 0);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: Number(u?.total_tokens ?? input + output),
  };
}

export const messageItem = (id: string, text: string, status: 'in_progress' | 'completed') => ({
  id,
  type: 'message',
  status,
  role: 'assistant',
  content: status === 'completed' ? [outputText(text)] : [],
});

export const outputText = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });

/** A chat tool call as the Responses API's function_call output item. */
export const functionCallItem = (call: Body) => ({
  id: hexId('fc_'),
  type: 'function_call',
  status: 'completed',
  call_id: call.id,
  name: call.function.name,
  arguments: call.function.arguments,
});

/** The output items of a chat answer: its text as one message (unless it is only tool calls), then each call. */
export function outputItems(chat: ReturnType<typeof chatCompletion>) {
  const message = chat.choices[0]?.message;
  const calls = (message?.tool_calls ?? []) as Body[];
  const text = message?.content ?? '';
  const items: Body[] = calls.length > 0 && !text ? [] : [messageItem(hexId('msg_'), text, 'completed')];
  return [...items, ...calls.map(functionCallItem)];
}

/** A Response object's frame: everything but its output, status and usage (shared by the whole object and the stream's events). */
export function responseFrame(id: string, model: unknown, createdAt: number, echo: ResponseEcho) {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null as null | { reason: string },
    instructions: or(echo.instructions, null),
    max_output_tokens: or(echo.max_output_tokens, null),
    model,
    output: [] as Body[],
    parallel_tool_calls: or(echo.parallel_tool_calls, true),
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: or(echo.temperature, 1),
    text: or(echo.text, { format: { type: 'text' } }),
    tool_choice: or(echo.tool_choice, 'auto'),
    tools: or(echo.tools, []),
    top_p: or(echo.top_p, 1),
    truncation: 'disabled',
    usage: null as null | ReturnType<typeof responseUsage>,
    user: null,
    metadata: or(echo.metadata, {}),
  };
}

/**
 * A finished Response: `completed`, or `incomplete` with reason max_output_tokens when the
 * engine's answer (`body`, Mistral-shaped chat) stopped at the budget.
 */
export function finishedResponse(frame: ReturnType<typeof responseFrame>, body: Body, output: Body[]) {
  const cut = (body.choices as Body[] | undefined)?.[0]?.finish_reason === 'length';
  return {
    ...frame,
    status: cut ? 'incomplete' : 'completed',
    incomplete_details: cut ? { reason: 'max_output_tokens' } : null,
    output,
    usage: responseUsage(body.usage),
  };
}

/** The engine's (Mistral-shaped) chat answer as a Response object. */
export function responseObject(body: Body, echo: ResponseEcho = {}) {
  const chat = chatCompletion(body);
  return finishedResponse(responseFrame(hexId('resp_'), chat.model, chat.created, echo), body, outputItems(chat));
}
