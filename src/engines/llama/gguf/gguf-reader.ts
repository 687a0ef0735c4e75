import fs from 'node:fs';

/** Byte widths of GGUF's fixed-size metadata value types, by type id. */
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** ggml type id → [elements per block, bytes per block] (ggml's type traits), for size checks. */
const BLOCKS: Record<number, [number, number]> = {
  0: [1, 4],
  1: [1, 2],
  2: [32, 18],
  3: [32, 20],
  6: [32, 22],
  7: [32, 24],
  8: [32, 34],
  9: [32, 36],
  10: [256, 84],
  11: [256, 110],
  12: [256, 144],
  13: [256, 176],
  14: [256, 210],
  15: [256, 292],
  16: [256, 66],
  17: [256, 74],
  18: [256, 98],
  19: [256, 50],
  20: [32, 18],
  21: [256, 110],
  22: [256, 82],
  23: [256, 136],
  24: [1, 1],
  25: [1, 2],
  26: [1, 4],
  27: [1, 8],
  28: [1, 8],
  29: [256, 56],
  30: [1, 2],
  34: [256, 54],
  35: [256, 66],
  39: [32, 17],
};

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
  /** Bytes of data, or null for a type this reader does not know. */
  bytes: number | null;
}

export interface GgufSummary {
  version: number;
  /** Scalar and string metadata values; arrays appear as `{ length }`. */
  metadata: Map<string, string | number | boolean | { length: number }>;
  tensors: GgufTensorInfo[];
  /** Where tensor data begins in the file. */
  dataStart: number;
  fileSize: number;
}

/** Sequential reads over a file descriptor through a 1 MiB window (a vocabulary is thousands of tiny strings). */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  take(n: number): Buffer {
    if (n < 0 || !Number.isSafeInteger(n) || this.pos + n > this.size)
      throw new Error(`the header runs past the end of the file (at byte ${this.pos}, ${this.size} bytes in all)`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      this.buf = Buffer.alloc(Math.min(Math.max(n, 1 << 20), this.size - this.pos));
      fs.readSync(this.fd, this.buf, 0, this.buf.length, this.pos);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }
  /** Moves past `n` bytes without reading them (string arrays, scalar arrays). */
  advance(n: number) {
    if (n < 0 || !Number.isSafeInteger(n) || this.pos + n > this.size)
      throw new Error(`the header runs past the end of the file (at byte ${this.pos}, ${this.size} bytes in all)`);
    this.pos += n;
  }
  u32 = () => this.take(4).readUInt32LE(0);
  u64 = () => Number(this.take(8).readBigUInt64LE(0));
  str = () => this.take(this.u64()).toString('utf8');
}

function readScalar(c: Cursor, type: number): string | number | boolean {
  const b = c.take(SCALAR_BYTES[type]!);
  switch (type) {
    case 0:
      return b.readUInt8(0);
    case 1:
      return b.readInt8(0);
    case 2:
      return b.readUInt16LE(0);
    case 3:
      return b.readInt16LE(0);
    case 4:
      return b.readUInt32LE(0);
    case 5:
      return b.readInt32LE(0);
    case 6:
      return b.readFloatLE(0);
    case 7:
      return b.readUInt8(0) !== 0;
    case 10:
      return Number(b.readBigUInt64LE(0));
    case 11:
      return Number(b.readBigInt64LE(0));
    default:
      return b.readDoubleLE(0);
  }
}

function readValue(c: Cursor, type: number): string | number | boolean | { length: number } {
  if (type === STRING) return c.str();
  if (type === ARRAY) {
    const inner = c.u32();
    const length = c.u64();
    if (inner === STRING) for (let i = 0; i < length; i++) c.advance(c.u64());
    else if (SCALAR_BYTES[inner] !== undefined) c.advance(SCALAR_BYTES[inner]! * length);
    else throw new Error(`unknown array element type ${inner}`);
    return { length };
  }
  if (SCALAR_BYTES[type] === undefined) throw new Error(`unknown metadata value type ${type}`);
  return readScalar(c, type);
}

/**
 * Reads a GGUF header (metadata and tensor table) without llama.cpp, so a server can vet
 * model files at start-up without loading a native library. Throws on anything
 * malformed: bad magic, an unknown value type, a length running past the end of the file.
 */
export function readGgufSummary(file: string): GgufSummary {
  const fd = fs.openSync(file, 'r');
  try {
    const c = new Cursor(fd, fs.fstatSync(fd).size);
    if (c.size < 8 || c.take(4).toString('latin1') !== 'GGUF') throw new Error('not a GGUF file (bad magic bytes)');
    const version = c.u32();
    if (version < 2 || version > 3) throw new Error(`GGUF version ${version} is not supported (2 and 3 are)`);
    const tensorCount = c.u64();
    const kvCount = c.u64();
    const metadata: GgufSummary['metadata'] = new Map();
    for (let i = 0; i < kvCount; i++) {
      const key = c.str();
      metadata.set(key, readValue(c, c.u32()));
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.str();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4) throw new Error(`tensor ${name} has ${nDims} dimensions`);
      const dims = Array.from({ length: nDims }, () => c.u64());
      const type = c.u32();
      const offset = c.u64();
      const block = BLOCKS[type];
      const bytes = block ? (dims.reduce((n, d) => n * d, 1) / block[0]) * block[1] : null;
      tensors.push({ name, dims, type, offset, bytes });
    }
    const alignment = Number(metadata.get('general.alignment') ?? 32) || 32;
    return { version, metadata, tensors, dataStart: Math.ceil(c.pos / alignment) * alignment, fileSize: c.size };
  } finally {
    fs.closeSync(fd);
  }
}
