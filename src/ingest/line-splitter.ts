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
        this.keep(chunk.subarray(from), true);
        break;
      }
      // A line wholly inside this chunk is handed over as a view, without a copy.
      if (this.pieceBytes === 0 && !this.skipping && nl - from <= this.maxLineBytes) {
        const end = this.offset + nl + 1;
        this.sink.line(chunk.subarray(from, nl), this.lineStart, end);
        this.lineStart = end;
      } else {
        this.keep(chunk.subarray(from, nl), false);
        this.emit(this.offset + nl + 1);
      }
      from = nl + 1;
    }
    this.offset += chunk.length;
  }

  /** Flushes a last line that has no trailing newline. */
  end(): void {
    if (this.pieceBytes > 0 || this.skipping) this.emit(this.offset);
  }

  private keep(part: Buffer, copy: boolean) {
    if (part.length === 0 || this.skipping) return;
    if (this.pieceBytes + part.length > this.maxLineBytes) {
      this.skipping = true;
      this.pieces = [];
      this.pieceBytes = 0;
      this.sink.overlong(this.lineStart);
      return;
    }
    // A tail that waits for the next chunk is copied: the caller may reuse the chunk's memory.
    this.pieces.push(copy ? Buffer.from(part) : part);
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
