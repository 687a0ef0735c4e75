import fs from 'node:fs';

/** Byte sizes of ggml's fixed-size scalar value types in GGUF metadata, by type id. */
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

export interface GgufSummary {
  version: number;
  /** String and number metadata values (arrays are skipped). */
  metadata: Map<string, string | number>;
  tensors: { name: string; offset: number }[];
  /** Where tensor data begins in the file. */
  dataStart: number;
}

/**
 * Reads a GGUF header (metadata and tensor table) without llama.cpp, in bounded reads,
 * so a server can vet model files at start-up without loading a native library.
 * Throws on anything malformed: bad magic, a length running past the end of the file.
 */
export function readGgufSummary(file: string): GgufSummary {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  let pos = 0;
  const read = (n: number): Buffer => {
    if (n < 0 || pos + n > size) throw new Error(`header runs past the end of the file at byte ${pos}`);
    const b = Buffer.alloc(n);
    fs.readSync(fd, b, 0, n, pos);
    pos += n;
    return b;
  };
  const u32 = () => read(4).readUInt32LE(0);
  const u64 = () => Number(read(8).readBigUInt64LE(0));
  const str = () => read(u64()).toString('utf8');
  const skip = (n: number) => {
    if (n < 0 || pos + n > size) throw new Error(`header runs past the end of the file at byte ${pos}`);
    pos += n;
  };
  const skipValue = (type: number) => {
    if (type === STRING) return skip(u64());
    if (type === ARRAY) {
      const inner = u32();
      const count = u64();
      if (inner === STRING) for (let i = 0; i < count; i++) skip(u64());
      else {
        const width = SCALAR_BYTES[inner];
        if (width === undefined) throw new Error(`unknown array element type ${inner}`);
        skip(width * count);
      }
      return;
    }
    const width = SCALAR_BYTES[type];
    if (width === undefined) throw new Error(`unknown metadata type ${type}`);
    skip(width);
  };
  try {
    if (read(4).toString('latin1') !== 'GGUF') throw new Error('not a GGUF file (bad magic bytes)');
    const version = u32();
    const tensorCount = u64();
    const kvCount = u64();
    const metadata = new Map<string, string | number>();
    for (let i = 0; i < kvCount; i++) {
      const key = str();
      const type = u32();
      if (type === STRING) metadata.set(key, str());
      else if (type === 4 || type === 5) metadata.set(key, read(4)[type === 4 ? 'readUInt32LE' : 'readInt32LE'](0));
      else skipValue(type);
    }
    const tensors = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = str();
      skip(8 * u32());
      u32();
      tensors.push({ name, offset: u64() });
    }
    const alignment = Number(metadata.get('general.alignment') ?? 32);
    return { version, metadata, tensors, dataStart: Math.ceil(pos / alignment) * alignment };
  } finally {
    fs.closeSync(fd);
  }
}
