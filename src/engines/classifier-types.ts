/** The classifier's data types, apart from its code so that moderation.ts and classification.ts can share them without importing each other. */

/**
 * One question a guard answers yes or no: does `label` of `target` apply to the text?
 * `meaning` completes "Does the text contain …?" so that a general chat model scores what
 * a trained classifier head would.
 */
export interface ClassifierLabel {
  target: string;
  label: string;
  meaning: string;
}

/**
 * A classifier head as Mistral describes a fine-tuned classifier model
 * (`ClassifierFineTunedModel.classifier_targets`): a target name, its labels, and whether
 * its labels exclude each other (`single_class`: scores sum to 1, like Mistral's intent
 * classifier) or not (`multi_class`: independent scores, like moderation).
 */
export interface ClassifierTarget {
  name: string;
  labels: (string | { name: string; meaning?: string })[];
  loss_function?: 'single_class' | 'multi_class';
}

/** What a guard found for one text: a score in [0,1] per label, and the text's own tokens. */
export interface GuardVerdict {
  scores: number[];
  inputTokens: number;
}

/** Scores the texts of one request on the labels; engines choose how (in parallel, one call per text, …). */
export type GuardScorer = (texts: string[], labels: ClassifierLabel[]) => Promise<GuardVerdict[]>;
