import { LlamaVocabularyType, type LlamaModel } from 'node-llama-cpp';

/**
 * The length, in UTF-16 code units, of the longest token of the model's vocabulary, or
 * null when no sound bound follows from it. With it, a text of `n` code units has at
 * least ceil(n / L) tokens, which is known without tokenizing (`String.length` is O(1)).
 *
 * Why it is sound for SentencePiece (`spm`) and byte-level BPE (`bpe`) vocabularies, the
 * only kinds it is computed for: every token stands for a piece of the text no longer
 * than its own vocabulary string. A SentencePiece piece is its text with spaces written
 * as U+2581 (one unit each) and a byte-fallback token `<0xAB>` (6 units) stands for one
 * byte, never more than one unit of text; a byte-level BPE token writes each byte of its
 * text as one BMP character, and a UTF-16 unit of text takes at least one UTF-8 byte.
 * Neither tokenizer drops or folds text. WordPiece and Unigram (BERT, T5 embedding
 * models) normalise it (whitespace vanishes, full-width letters fold), so a string of
 * spaces can be zero tokens: for those there is no bound and large inputs are simply
 * tokenized off the event loop (see tokenizer.ts).
 */
export function longestTokenChars(model: LlamaModel): number | null {
  if (model.vocabularyType !== LlamaVocabularyType.spm && model.vocabularyType !== LlamaVocabularyType.bpe) return null;
  const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } }).tokenizer?.ggml?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) return null;
  let longest = 0;
  for (const t of tokens) if (typeof t === 'string' && t.length > longest) longest = t.length;
  // A character the vocabulary lacks (no byte fallback) is one unknown token: up to 2 units (a surrogate pair).
  return Math.max(2, longest);
}

/** UTF-16 length of a string field, 0 for anything else. */
export const charsOf = (v: unknown): number => (typeof v === 'string' ? v.length : 0);

/**
 * Characters of a chat request that are certainly tokenized as plain text into its
 * prompt: user and assistant text (and system text, which joins the last user turn).
 * Tool results are left out: they are re-serialised as JSON, which may shorten them.
 * A subset keeps the bound a lower bound.
 */
export function chatPromptChars(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  const hasUser = messages.some((m) => (m as { role?: unknown } | null)?.role === 'user');
  let n = 0;
  for (const m of messages as { role?: unknown; content?: unknown }[]) {
    const role = m?.role;
    if (role !== 'user' && role !== 'assistant' && !(role === 'system' && hasUser)) continue;
    const c = m.content;
    if (typeof c === 'string') n += c.length;
    else if (Array.isArray(c)) for (const chunk of c as { type?: unknown; text?: unknown }[]) if (chunk?.type === 'text') n += charsOf(chunk.text);
  }
  return n;
}
