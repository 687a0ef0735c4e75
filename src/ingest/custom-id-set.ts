/**
 * Remembers which custom_ids a file has used, in bounded memory: a million ids as JS
 * strings in a Set cost ~80 MB, here they cost 12 bytes a slot (two 32-bit hashes and
 * the line number). Two different ids share a 64-bit fingerprint with probability
 * ~n²/2⁶⁵ (≈3·10⁻⁸ for a million), an acceptable false-duplicate rate for an upload check.
 */
export class CustomIdSet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private lines: Uint32Array;
  private size = 0;

  constructor(capacity = 1024) {
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.lines = new Uint32Array(capacity);
  }

  /** Adds `id` seen on `line` (1-based); returns the line it was first seen on if it is a duplicate. */
  add(id: string, line: number): number | null {
    if ((this.size + 1) * 2 > this.hi.length) this.grow();
    const [h, l] = fingerprint(id);
    return this.insert(h, l, line);
  }

  private insert(h: number, l: number, line: number): number | null {
    const mask = this.hi.length - 1;
    let i = (l ^ h) & mask;
    for (;;) {
      if (this.lines[i] === 0) {
        this.hi[i] = h;
        this.lo[i] = l;
        this.lines[i] = line;
        this.size++;
        return null;
      }
      if (this.hi[i] === h && this.lo[i] === l) return this.lines[i]!;
      i = (i + 1) & mask;
    }
  }

  private grow() {
    const { hi, lo, lines } = this;
    this.hi = new Uint32Array(hi.length * 2);
    this.lo = new Uint32Array(hi.length * 2);
    this.lines = new Uint32Array(hi.length * 2);
    this.size = 0;
    for (let i = 0; i < hi.length; i++) if (lines[i] !== 0) this.insert(hi[i]!, lo[i]!, lines[i]!);
  }
}

/** Two independent 32-bit FNV-1a style hashes of the UTF-16 code units. */
function fingerprint(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, b >>> 0];
}
