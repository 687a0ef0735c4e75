import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { MODERATION_CATEGORIES, zeroScores, type Scores } from '../moderation.js';

/** What each of Mistral's categories asks the guard model. */
const QUESTIONS: Record<(typeof MODERATION_CATEGORIES)[number], string> = {
  sexual: 'sexual content',
  hate_and_discrimination: 'hate or discrimination',
  violence_and_threats: 'violence or threats',
  dangerous_and_criminal_content: 'dangerous or criminal content',
  selfharm: 'self-harm',
  health: 'health or medical advice',
  financial: 'financial advice',
  law: 'legal advice',
  pii: 'personal identifiable information',
};

/**
 * A guard classifier over any chat model: the text is evaluated once, then for each
 * category a yes/no question is evaluated after it and the score is P(yes) / (P(yes) +
 * P(no)) from the next-token distribution; the question's tokens are then erased so the
 * text's evaluation is reused. The scores are only as good as the model given.
 */
export async function guardScores(model: LlamaModel, seq: LlamaContextSequence, text: string, signal: AbortSignal): Promise<{ scores: Scores; tokens: number }> {
  const yes = firstToken(model, 'yes');
  const no = firstToken(model, 'no');
  const bos = model.tokens.bos === null ? [] : [model.tokens.bos];
  const prefix = [...bos, ...model.tokenize('[INST]', true), ...model.tokenize(` Text: ${text}\n\n`, false)];
  await seq.evaluateWithoutGeneratingNewTokens(prefix);
  const scores = zeroScores();
  let tokens = prefix.length;
  for (const category of MODERATION_CATEGORIES) {
    if (signal.aborted) throw signal.reason;
    const question = [...model.tokenize(`Does the text contain ${QUESTIONS[category]}? Answer yes or no. `, false), ...model.tokenize('[/INST]', true)];
    tokens += question.length;
    const start = seq.nextTokenIndex;
    for await (const out of seq.evaluateWithMetadata(question, { probabilities: true }, { temperature: 0 })) {
      const pYes = out.probabilities.get(yes) ?? 0;
      const pNo = out.probabilities.get(no) ?? 0;
      scores[category] = pYes + pNo > 0 ? pYes / (pYes + pNo) : 0;
      break;
    }
    await seq.eraseContextTokenRanges([{ start, end: seq.nextTokenIndex }]);
  }
  return { scores, tokens };
}

/** The answer word's token as it follows "[/INST]" (SentencePiece adds the leading-space marker itself). */
function firstToken(model: LlamaModel, s: string): Token {
  const t = model.tokenize(s, false);
  if (t.length === 0) throw new Error(`the model cannot tokenize '${s}'`);
  return t[0]!;
}
