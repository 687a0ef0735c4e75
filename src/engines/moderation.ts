import { randomUUID } from 'node:crypto';
import type { Usage } from './engine.js';
import type { ClassifierLabel } from './classifier-types.js';

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

/** The nine guard questions of moderation, in MODERATION_CATEGORIES order (scores arrays follow it). */
export const MODERATION_LABELS: ClassifierLabel[] = MODERATION_CATEGORIES.map((c) => ({ target: 'moderation', label: c, meaning: CATEGORY_MEANING[c] }));

/** Per-category scores from scores in MODERATION_CATEGORIES order. */
export const categoryScores = (scores: number[]): Scores => Object.fromEntries(MODERATION_CATEGORIES.map((c, i) => [c, scores[i] ?? 0])) as Scores;

/** Mistral's ModerationResponse from per-text scores (in MODERATION_CATEGORIES order): a category is flagged at 0.5. */
export function moderationResponse(model: string, scores: number[][], usage: Usage) {
  return {
    id: randomUUID().replace(/-/g, ''),
    model,
    results: scores.map((s) => ({
      categories: Object.fromEntries(MODERATION_CATEGORIES.map((c, i) => [c, (s[i] ?? 0) >= 0.5])),
      category_scores: categoryScores(s),
    })),
    usage: { ...usage, request_count: scores.length },
  };
}
