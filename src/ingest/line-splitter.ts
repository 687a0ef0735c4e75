/**
 * Splits a byte stream into lines without converting whole chunks to strings, and
 * without ever buffering more than `maxLineBytes` of one line: a longer line is
 * reported once and its bytes are skipped, so a 20 MB line costs no 20 MB of memory.
 */
export interface LineSink {
  /** A complete line without its `\n` (a trailing `\r` is kept for the caller); offsets are in the stream. */
  line(bytes: Buffer, start: number, end: number): void;
  /** A line longer than the limit; `start` is its first byte. */
  overlong(start: number): void;
}

export class LineSplitter {
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  private lineStart = 0;
  private offset = 0;
  private skipping = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly sink: LineSink,
  ) {}

  push(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl === -1) {
        this.keep(chunk.subarray(from));
        break;
      }
      this.keep(chunk.subarray(from, nl));
      this.emit(this.offset + nl + 1);
      from = nl + 1;
    }
    this.offset += chunk.length;
  }

  /** Flushes a last line that has no trailing newline. */
  end(): void {
    if (this.pieceBytes > 0 || this.skipping) this.emit(this.offset);
  }

  private keep(part: Buffer) {
    if (part.length === 0 || this.skipping) return;
    if (this.pieceBytes + part.length > this.maxLineBytes) {
      this.skipping = true;
      this.pieces = [];
      this.pieceBytes = 0;
      this.sink.overlong(this.lineStart);
      return;
    }
    // Copy: the caller may reuse the chunk's memory once push() returns.
    this.pieces.push(Buffer.from(part));
    this.pieceBytes += part.length;
  }

  private emit(nextLineStart: number) {
    if (!this.skipping) {
      const bytes = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pieceBytes);
      this.sink.line(bytes, this.lineStart, nextLineStart);
    }
    this.pieces = [];
    this.pieceBytes = 0;
    this.skipping = false;
    this.lineStart = nextLineStart;
  }
}
