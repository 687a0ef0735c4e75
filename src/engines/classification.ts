import { randomUUID } from 'node:crypto';
import type { ModelEntry } from '../models/registry.js';
import type { EngineRequest, EngineResult, Usage } from './engine.js';
import { guardTexts, isClassifierEndpoint } from './classification-inputs.js';
import { MODERATION_LABELS, moderationResponse } from './moderation.js';
import type { ClassifierLabel, ClassifierTarget, GuardScorer } from './classifier-types.js';

export type { ClassifierLabel, ClassifierTarget, GuardScorer, GuardVerdict } from './classifier-types.js';

export const labelsOf = (targets: ClassifierTarget[]): ClassifierLabel[] =>
  targets.flatMap((t) =>
    t.labels.map((l) => {
      const label = typeof l === 'string' ? l : l.name;
      const meaning = (typeof l === 'string' ? undefined : l.meaning) ?? `content whose ${t.name.replace(/[_-]+/g, ' ')} is "${label}"`;
      return { target: t.name, label, meaning };
    }),
  );

/**
 * The targets a model's /v1/classifications answers with. Mistral's moderation models
 * answer there too; batchd gives them one multi-label target, `moderation`, whose labels
 * are the nine categories of /v1/moderations (the shape of Mistral's own moderation
 * classifier in its Classifier Factory guide, `{"moderation": {"scores": {...}}}`), so a
 * text scores the same on both endpoints. A registry entry may name its own targets in
 * Mistral's `classifier_targets` shape (an optional field, read here if the registry has it).
 */
export function classifierTargets(model: ModelEntry): ClassifierTarget[] {
  const own = (model as ModelEntry & { classifier_targets?: ClassifierTarget[] }).classifier_targets;
  if (Array.isArray(own) && own.length > 0) return own;
  return [{ name: 'moderation', labels: MODERATION_LABELS.map((l) => ({ name: l.label, meaning: l.meaning })), loss_function: 'multi_class' }];
}

/**
 * Runs one request of the four classifier endpoints through an engine's guard and renders
 * Mistral's response. `usage` counts the input texts' tokens (Mistral reports
 * moderation usage so: the input, no completion), never the guard prompts built around
 * them: that is what clients and a job's accounting see.
 */
export async function classifyRequest(req: EngineRequest, modelName: string, score: GuardScorer): Promise<EngineResult> {
  if (!isClassifierEndpoint(req.endpoint)) throw new Error(`${req.endpoint} is not a classifier endpoint`);
  const texts = guardTexts(req.endpoint, req.body);
  const moderation = req.endpoint === '/v1/moderations' || req.endpoint === '/v1/chat/moderations';
  const targets = moderation ? null : classifierTargets(req.model);
  const labels = targets ? labelsOf(targets) : MODERATION_LABELS;
  const verdicts = await score(texts, labels);
  const tokens = verdicts.reduce((n, v) => n + v.inputTokens, 0);
  const usage: Usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens };
  const scores = verdicts.map((v) => v.scores);
  const body = targets ? classificationResponse(modelName, targets, labels, scores, usage) : moderationResponse(modelName, scores, usage);
  return { status_code: 200, usage, body };
}

/** Mistral's ClassificationResponse: per text, `{<target>: {scores: {<label>: p}}}`. */
export function classificationResponse(model: string, targets: ClassifierTarget[], labels: ClassifierLabel[], scores: number[][], usage: Usage) {
  const single = new Set(targets.filter((t) => t.loss_function === 'single_class').map((t) => t.name));
  return {
    id: randomUUID().replace(/-/g, ''),
    model,
    results: scores.map((s) => {
      const result: Record<string, { scores: Record<string, number> }> = {};
      labels.forEach((l, i) => ((result[l.target] ??= { scores: {} }).scores[l.label] = s[i] ?? 0));
      // Exclusive labels: the yes-shares become one distribution over the target's labels.
      for (const name of single) {
        const t = result[name]!.scores;
        const sum = Object.values(t).reduce((a, b) => a + b, 0);
        for (const k of Object.keys(t)) t[k] = sum > 0 ? t[k]! / sum : 1 / Object.keys(t).length;
      }
      return result;
    }),
    usage: { ...usage, request_count: scores.length },
  };
}
