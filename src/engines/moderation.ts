import { randomUUID } from 'node:crypto';
import { EngineError, type Endpoint, type Usage } from './engine.js';

/** The categories of Mistral's /v1/moderations (the 9-key set of its documented example). */
export const MODERATION_CATEGORIES = [
  'sexual',
  'hate_and_discrimination',
  'violence_and_threats',
  'dangerous_and_criminal_content',
  'selfharm',
  'health',
  'financial',
  'law',
  'pii',
] as const;

export type Category = (typeof MODERATION_CATEGORIES)[number];
export type Scores = Record<Category, number>;

/** What each category means, spelled out so a general chat model used as a guard scores what Mistral's classifier scores. */
export const CATEGORY_MEANING: Record<Category, string> = {
  sexual: 'sexually explicit content',
  hate_and_discrimination: 'hate speech or discrimination against protected groups',
  violence_and_threats: 'violence, threats or incitement to harm',
  dangerous_and_criminal_content: 'instructions for or promotion of dangerous or criminal activity',
  selfharm: 'self-harm, suicide or eating disorders',
  health: 'medical or health advice',
  financial: 'financial advice',
  law: 'legal advice',
  pii: 'personally identifiable information (names with addresses, phone numbers, IDs, emails)',
};

const invalid = (param: string, message: string) =>
  new EngineError(message, false, 422, { object: 'error', message, type: 'invalid_request_error', param, code: null, detail: [{ loc: ['body', param], msg: message, type: 'value_error' }] }, null, 'invalid_request');

/**
 * The texts a moderation request asks about: each string of `/v1/moderations` input, or
 * each conversation of `/v1/chat/moderations` (a message list, or a list of them) as text.
 */
export function moderationTexts(endpoint: Endpoint, body: Record<string, unknown>): string[] {
  const input = body.input;
  if (endpoint === '/v1/moderations') {
    const list = Array.isArray(input) ? input : [input];
    if (input === undefined || list.length === 0 || !list.every((s) => typeof s === 'string')) {
      throw invalid('input', 'input must be a string or a non-empty array of strings');
    }
    return list as string[];
  }
  if (!Array.isArray(input) || input.length === 0) throw invalid('input', 'input must be a list of chat messages, or a list of such lists');
  const conversations = Array.isArray(input[0]) ? (input as unknown[][]) : [input];
  return conversations.map((messages) =>
    messages
      .map((m) => {
        const msg = m as { role?: unknown; content?: unknown };
        if (typeof msg?.role !== 'string') throw invalid('input', 'each chat message needs a role and content');
        const content = typeof msg.content === 'string' ? msg.content : JSON.stringify(msg.content ?? '');
        return `${msg.role}: ${content}`;
      })
      .join('\n'),
  );
}

/** Mistral's ModerationResponse from per-text scores: a category is flagged at 0.5. */
export function moderationResponse(model: string, scores: Scores[], usage: Usage) {
  return {
    id: randomUUID().replace(/-/g, ''),
    model,
    results: scores.map((s) => ({
      categories: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, s[c] >= 0.5])),
      category_scores: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, s[c]])),
    })),
    usage: { ...usage, request_count: scores.length },
  };
}

export const zeroScores = (): Scores => Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, 0])) as Scores;
