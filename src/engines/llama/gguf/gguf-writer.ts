import fs from 'node:fs';

/** GGUF metadata value types (ggml's gguf_type). */
const T = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10 } as const;
/** ggml tensor types used here. */
export const GGML_F32 = 0;

export type MetaValue =
  | { type: 'u32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: string[] }
  | { type: 'f32s'; value: Float32Array | number[] }
  | { type: 'i32s'; value: Int32Array | number[] };

export interface Tensor {
  name: string;
  /** GGUF order: ne0 (fastest varying) first. */
  dims: number[];
  data: Float32Array;
}

const ALIGNMENT = 32;

/** A growable little-endian byte buffer for the header. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number) {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  u8(v: number) {
    this.ensure(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }
  i32(v: number) {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  u64(v: number) {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  f32(v: number) {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  pad(to: number) {
    const n = (to - (this.length % to)) % to;
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes() {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(b: Bytes, v: MetaValue) {
  switch (v.type) {
    case 'u32': b.u32(T.UINT32); b.u32(v.value); break;
    case 'f32': b.u32(T.FLOAT32); b.f32(v.value); break;
    case 'bool': b.u32(T.BOOL); b.u8(v.value ? 1 : 0); break;
    case 'string': b.u32(T.STRING); b.str(v.value); break;
    case 'strings': b.u32(T.ARRAY); b.u32(T.STRING); b.u64(v.value.length); for (const s of v.value) b.str(s); break;
    case 'f32s': b.u32(T.ARRAY); b.u32(T.FLOAT32); b.u64(v.value.length); for (const x of v.value) b.f32(x); break;
    case 'i32s': b.u32(T.ARRAY); b.u32(T.INT32); b.u64(v.value.length); for (const x of v.value) b.i32(x); break;
  }
}

/**
 * Writes a GGUF v3 file: header, metadata, tensor infos, then F32 tensor data aligned
 * to 32 bytes. Written to `<file>.tmp` and renamed, so a crash never leaves half a model.
 */
export function writeGguf(file: string, metadata: [string, MetaValue][], tensors: Tensor[]): void {
  const b = new Bytes();
  b.u32(0x46554747); // "GGUF" read as a little-endian u32
  b.u32(3);
  b.u64(tensors.length);
  b.u64(metadata.length);
  for (const [key, value] of metadata) {
    b.str(key);
    writeValue(b, value);
  }
  let offset = 0;
  for (const t of tensors) {
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(GGML_F32);
    b.u64(offset);
    offset += t.data.byteLength;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  b.pad(ALIGNMENT);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, b.bytes());
    for (const t of tensors) {
      const data = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      fs.writeSync(fd, data);
      const pad = (ALIGNMENT - (data.length % ALIGNMENT)) % ALIGNMENT;
      if (pad) fs.writeSync(fd, Buffer.alloc(pad));
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
