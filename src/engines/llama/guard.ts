import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type { ClassifierLabel, GuardVerdict } from '../classification.js';
import type { PromptFormatter } from './prompts.js';
import { contextTooLong } from './sampling.js';

/** A text's guard prompts, tokenized: the part every label's question shares, one tail per label, and the text's own tokens. */
export interface GuardPrompt {
  shared: Token[];
  tails: Token[][];
  inputTokens: number;
}

// The same up to the question for every label of a target, so the questions about one text share that part.
const question = (text: string, label: ClassifierLabel) =>
  `You are a content ${label.target === 'moderation' ? 'moderation ' : ''}classifier.\n\nText:\n"""\n${text}\n"""\n\nDoes the text above contain ${label.meaning}? Answer yes or no.`;

/**
 * A guard classifier over any chat model. For each label (the 9 moderation categories,
 * or a classifier's target labels) the model is asked a yes/no question in its own chat
 * format, and the score is P(yes) / (P(yes) + P(no)) read from the logits of the next
 * token (every single-token spelling of "yes" and "no" counts). The prompts share
 * everything up to the question, so that part is evaluated once; each question is
 * evaluated after it, read, then erased. The scores are only as good as the model given:
 * the generated default model has random weights.
 */
export class Guard {
  private readonly yes: Token[];
  private readonly no: Token[];

  constructor(
    private readonly model: LlamaModel,
    private readonly formatter: PromptFormatter,
  ) {
    this.yes = this.answerTokens(['yes', 'Yes', 'YES']);
    this.no = this.answerTokens(['no', 'No', 'NO']);
  }

  /**
   * Everything tokenized for one text, before a sequence is taken (and, for a large text,
   * off the event loop: see tokenizer.ts): the part shared by every label's question, one
   * tail per label, and the text's own token count. Empty when there are no labels.
   */
  prepare(text: string, labels: ClassifierLabel[]): GuardPrompt {
    const inputTokens = this.model.tokenize(text, false).length;
    if (labels.length === 0) return { shared: [], tails: [], inputTokens };
    const all = labels.map((l) => this.formatter.chat([{ role: 'user', content: question(text, l) }]).tokens);
    let n = 0;
    while (all.every((p) => n < p.length - 1 && p[n] === all[0]![n])) n++;
    return { shared: all[0]!.slice(0, n), tails: all.map((p) => p.slice(n)), inputTokens };
  }

  async score(seq: LlamaContextSequence, prompt: GuardPrompt, signal: AbortSignal): Promise<GuardVerdict> {
    const { shared, tails, inputTokens } = prompt;
    if (tails.length === 0) return { scores: [], inputTokens };
    const longest = shared.length + Math.max(...tails.map((t) => t.length));
    if (longest > seq.contextSize)
      throw contextTooLong('input', `the text needs ${longest} tokens with the guard prompt; this model's context holds ${seq.contextSize}`);
    await seq.evaluateWithoutGeneratingNewTokens(shared);
    const scores: number[] = [];
    // The full next-token distribution at temperature 1 with no top-k (0 = off), top-p or min-p cut: the yes and no
    // probabilities are then the plain softmax of the logits, whatever their rank.
    const options = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    for (const tail of tails) {
      if (signal.aborted) throw signal.reason;
      const start = seq.nextTokenIndex;
      const out = await seq.controlledEvaluate([...tail.slice(0, -1), [tail[tail.length - 1]!, { generateNext: { probabilities: true, options } }]]);
      const probabilities = out[tail.length - 1]?.next.probabilities ?? new Map<Token, number>();
      scores.push(yesShare(probabilities, this.yes, this.no));
      await seq.eraseContextTokenRanges([{ start, end: seq.nextTokenIndex }]);
    }
    return { scores, inputTokens };
  }

  /** The first token of each spelling, with and without a leading space, where the spelling is one token. */
  private answerTokens(words: string[]): Token[] {
    const found = new Set<Token>();
    for (const w of words) {
      for (const t of [this.model.tokenize(w, false), this.model.tokenize(w, false, 'trimLeadingSpace')]) if (t.length === 1) found.add(t[0]!);
    }
    if (found.size === 0) found.add(this.model.tokenize(words[0]!, false)[0]!);
    return [...found];
  }
}

/** Probability mass of the yes tokens against yes + no. */
function yesShare(probabilities: Map<Token, number>, yes: Token[], no: Token[]): number {
  const mass = (ts: Token[]) => ts.reduce((sum, t) => sum + (probabilities.get(t) ?? 0), 0);
  const y = mass(yes);
  const n = mass(no);
  return y + n > 0 ? y / (y + n) : 0;
}
