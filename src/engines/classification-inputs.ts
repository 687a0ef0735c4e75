import { invalidRequest, textOf, type Endpoint } from './engine.js';

/** The four endpoints a guard classifier serves. */
export type ClassifierEndpoint = '/v1/moderations' | '/v1/chat/moderations' | '/v1/classifications' | '/v1/chat/classifications';

const ROLES = ['system', 'user', 'assistant', 'tool'];

/**
 * The texts one request asks about, one per result: each string of `/v1/moderations` and
 * `/v1/classifications` input; each conversation of `/v1/chat/moderations` (a message list,
 * or a list of them) and of `/v1/chat/classifications` (Mistral's `InstructRequest`,
 * `{messages}`, or a list of them), rendered as `role: text` lines. Anything else is
 * Mistral's 422 naming the field, before any work is done.
 */
export function guardTexts(endpoint: ClassifierEndpoint, body: Record<string, unknown>): string[] {
  const input = body.input;
  if (input === undefined || input === null) throw invalidRequest('input', 'Field required');
  switch (endpoint) {
    case '/v1/moderations':
    case '/v1/classifications':
      return plainTexts(input);
    case '/v1/chat/moderations':
      if (!Array.isArray(input) || input.length === 0) throw invalidRequest('input', 'must be a non-empty list of chat messages, or a list of such lists');
      return Array.isArray(input[0]) ? input.map((c, i) => conversationText(c, `input.${i}`)) : [conversationText(input, 'input')];
    case '/v1/chat/classifications': {
      const requests = Array.isArray(input) ? input : [input];
      if (requests.length === 0) throw invalidRequest('input', 'must be {messages: [...]} or a non-empty list of them');
      return requests.map((r, i) => {
        const at = Array.isArray(input) ? `input.${i}` : 'input';
        if (!r || typeof r !== 'object' || Array.isArray(r)) throw invalidRequest(at, 'must be an object {messages: [...]}');
        const messages = (r as { messages?: unknown }).messages;
        if (messages === undefined) throw invalidRequest(`${at}.messages`, 'Field required');
        return conversationText(messages, `${at}.messages`);
      });
    }
  }
}

export const isClassifierEndpoint = (endpoint: Endpoint): endpoint is ClassifierEndpoint =>
  endpoint === '/v1/moderations' || endpoint === '/v1/chat/moderations' || endpoint === '/v1/classifications' || endpoint === '/v1/chat/classifications';

function plainTexts(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) throw invalidRequest('input', 'must be a string or a list of strings');
  if (input.length === 0) throw invalidRequest('input', 'must not be an empty list');
  input.forEach((s, i) => {
    if (typeof s !== 'string') throw invalidRequest(`input.${i}`, 'must be a string');
  });
  return input as string[];
}

/** A conversation as the guard reads it: one `role: text` line per message. */
function conversationText(messages: unknown, at: string): string {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidRequest(at, 'must be a non-empty list of chat messages');
  return messages
    .map((m: unknown, i) => {
      const msg = (m && typeof m === 'object' ? m : {}) as { role?: unknown; content?: unknown; tool_calls?: unknown };
      if (typeof msg.role !== 'string' || !ROLES.includes(msg.role)) throw invalidRequest(`${at}.${i}.role`, "must be 'system', 'user', 'assistant' or 'tool'");
      const c = msg.content;
      if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c))
        throw invalidRequest(`${at}.${i}.content`, 'must be a string or a list of content chunks');
      // An assistant turn that only calls tools is judged by its calls' arguments.
      const text = textOf(c) || (msg.tool_calls ? JSON.stringify(msg.tool_calls) : '');
      return `${msg.role}: ${text}`;
    })
    .join('\n');
}
