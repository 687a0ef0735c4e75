import type { LlamaModel, Token } from 'node-llama-cpp';

/** A UTF-8 character spans at most 4 byte-fallback tokens; past that the bytes are invalid and decoded as U+FFFD. */
const MAX_PENDING = 4;
/** Tokens of left context for detokenizing the next piece (SentencePiece decides leading spaces from them). */
const CONTEXT_TOKENS = 8;

/**
 * The text of a completion, grown one generated token at a time in O(1) per token:
 * tokens that end inside a multi-byte character are held until it is complete, so
 * the text and every streamed delta are valid strings; stop strings are looked for
 * only in the new tail, and the text is cut before the first one found. Streaming
 * holds back any tail that could still turn into a stop string.
 */
export class CompletionText {
  text = '';
  /** A stop string was found; the text ends before it. */
  stopped = false;
  private pending: Token[] = [];
  private context: Token[];
  private sent = 0;
  private readonly hold: number;

  constructor(
    private readonly model: LlamaModel,
    /** Tokens the completion continues (an assistant prefix), or none: a completion decoded on its own has no leading space. */
    continues: readonly Token[],
    private readonly stops: readonly string[],
    private readonly onDelta?: (delta: string) => void,
  ) {
    this.context = continues.slice(-CONTEXT_TOKENS);
    this.hold = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  /** Adds a generated token; true once a stop string has appeared. */
  push(token: Token): boolean {
    this.pending.push(token);
    // Nobody looks at the text before the end: decode once then (most batch requests), it is cheaper.
    if (!this.onDelta && this.stops.length === 0) return false;
    const piece = this.model.detokenize(this.pending, false, this.context);
    if (piece.endsWith('\uFFFD') && this.pending.length < MAX_PENDING) return false;
    this.commit(piece);
    return this.stopped;
  }

  /** The final text, with any held bytes (decoded as U+FFFD if they never completed a character). */
  finish(): string {
    if (this.pending.length && !this.stopped) this.commit(this.model.detokenize(this.pending, false, this.context));
    this.emit(this.text.length);
    return this.text;
  }

  private commit(piece: string) {
    // A stop string can begin up to `hold` characters before the new piece.
    const from = Math.max(0, this.text.length - this.hold);
    this.text += piece;
    this.context = [...this.context, ...this.pending].slice(-CONTEXT_TOKENS);
    this.pending = [];
    let cut = -1;
    for (const s of this.stops) {
      const at = this.text.indexOf(s, from);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.text = this.text.slice(0, cut);
      this.stopped = true;
    }
    this.emit(this.stopped ? this.text.length : this.text.length - this.hold);
  }

  private emit(upTo: number) {
    // Never split a surrogate pair between two deltas: each must be a valid string on its own.
    if (upTo < this.text.length && /[\uD800-\uDBFF]/.test(this.text.charAt(upTo - 1))) upTo--;
    if (!this.onDelta || upTo <= this.sent) return;
    this.onDelta(this.text.slice(this.sent, upTo));
    this.sent = upTo;
  }
}
