import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { CATEGORY_MEANING, MODERATION_CATEGORIES, zeroScores, type Category, type Scores } from '../moderation.js';
import type { PromptFormatter } from './prompts.js';
import { badRequest } from './sampling.js';

const question = (text: string, category: Category) =>
  `You are a content moderation classifier.\n\nText:\n"""\n${text}\n"""\n\nDoes the text above contain ${CATEGORY_MEANING[category]}? Answer yes or no.`;

/**
 * A guard classifier over any chat model. For each category the model is asked a
 * yes/no question in its own chat format, and the score is P(yes) / (P(yes) + P(no))
 * read from the logits of the next token (every single-token spelling of "yes" and
 * "no" counts). The nine prompts share everything up to the question, so that part is
 * evaluated once; each question is evaluated after it, read, then erased. The scores
 * are only as good as the model given: the generated default model has random weights.
 */
export class Guard {
  private readonly yes: Token[];
  private readonly no: Token[];

  constructor(private readonly model: LlamaModel, private readonly formatter: PromptFormatter) {
    this.yes = this.answerTokens(['yes', 'Yes', 'YES']);
    this.no = this.answerTokens(['no', 'No', 'NO']);
  }

  /** Prompt tokens the guard would use for `text` (checked against the context before a sequence is taken). */
  prompts(text: string): { shared: Token[]; tails: Token[][] } {
    const all = MODERATION_CATEGORIES.map((c) => this.formatter.chat([{ role: 'user', content: question(text, c) }]).tokens);
    let n = 0;
    while (all.every((p) => n < p.length - 1 && p[n] === all[0]![n])) n++;
    return { shared: all[0]!.slice(0, n), tails: all.map((p) => p.slice(n)) };
  }

  async score(seq: LlamaContextSequence, text: string, signal: AbortSignal): Promise<{ scores: Scores; tokens: number }> {
    const { shared, tails } = this.prompts(text);
    const longest = shared.length + Math.max(...tails.map((t) => t.length));
    if (longest > seq.contextSize) throw badRequest('input', `the text needs ${longest} tokens with the guard prompt; this model's context holds ${seq.contextSize}`);
    await seq.evaluateWithoutGeneratingNewTokens(shared);
    const scores = zeroScores();
    const filter = { tokens: [...this.yes, ...this.no] };
    for (const [i, category] of MODERATION_CATEGORIES.entries()) {
      if (signal.aborted) throw signal.reason;
      const tail = tails[i]!;
      const start = seq.nextTokenIndex;
      const out = await seq.controlledEvaluate([...tail.slice(0, -1), [tail[tail.length - 1]!, { generateNext: { logits: { filter } } }]]);
      const logits = out[tail.length - 1]?.next.logits ?? new Map<Token, number>();
      scores[category] = yesShare(logits, this.yes, this.no);
      await seq.eraseContextTokenRanges([{ start, end: seq.nextTokenIndex }]);
    }
    return { scores, tokens: shared.length + tails.reduce((n, t) => n + t.length, 0) };
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

/** softmax mass of the yes tokens against yes + no, computed without overflow. */
function yesShare(logits: Map<Token, number>, yes: Token[], no: Token[]): number {
  const values = [...yes, ...no].map((t) => logits.get(t) ?? -Infinity);
  const max = Math.max(...values);
  if (!Number.isFinite(max)) return 0;
  const mass = (ts: Token[]) => ts.reduce((s, t) => s + Math.exp((logits.get(t) ?? -Infinity) - max), 0);
  const y = mass(yes);
  return y / (y + mass(no));
}
