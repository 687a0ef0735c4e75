import { ERROR_CATALOGUE } from '../../error-catalogue.js';
import type { LineOutcome } from '../../results/render.js';
import type { LineFormat } from '../types.js';
import { anthropicError } from './errors.js';
import { toAnthropicMessage } from './message.js';
import { toMistralChat } from './request.js';

/** The `result` of one line of a batch's results: succeeded with its Message, errored, canceled or expired. */
export function resultOf(o: LineOutcome): Record<string, unknown> {
  if (o.ok && o.response) return { type: 'succeeded', message: toAnthropicMessage(o.response.body as Record<string, unknown>, 'batch') };
  if (o.error?.code === 'batch_cancelled') return { type: 'canceled' };
  if (o.error?.code === 'batch_expired') return { type: 'expired' };
  const entry = o.error ? (ERROR_CATALOGUE[o.error.code] as { status?: number }) : undefined;
  // The engine's status where one answered; a line that never reached one (model unavailable) is the server's failure.
  const status = o.response?.status_code ?? entry?.status ?? 500;
  return { type: 'errored', error: anthropicError(status, o.error?.message ?? 'The request failed.') };
}

/**
 * Anthropic's batch lines: each stored line is `{custom_id, body: params}` (the create route
 * stores each request's params as its body), translated to Mistral's chat body when it runs;
 * each result is `{custom_id, result}`, `result` last so the line's kind is at its end.
 */
export const anthropicLineFormat: LineFormat = {
  request: (body) => toMistralChat(body),
  render: (_jobId, o) => JSON.stringify({ custom_id: o.customId, result: resultOf(o) }),
};
