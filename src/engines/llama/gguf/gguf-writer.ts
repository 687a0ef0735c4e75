import fs from 'node:fs';

/** GGUF metadata value types (ggml's gguf_type). */
const T = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;
/** ggml tensor type ids for the two types the generator writes. */
export const GGML_TYPE = { f32: 0, f16: 1 } as const;
export type TensorType = keyof typeof GGML_TYPE;

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
  /** Stored type; the data is converted on write. Default f32. */
  type?: TensorType;
}

export const ALIGNMENT = 32;

/** A growable little-endian byte buffer for the header. */
class Bytes {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // room() may replace the buffer, so it runs before `this.buf` is read.
  u8(v: number) {
    const at = this.room(1);
    this.buf.writeUInt8(v, at);
  }
  u32(v: number) {
    const at = this.room(4);
    this.buf.writeUInt32LE(v, at);
  }
  i32(v: number) {
    const at = this.room(4);
    this.buf.writeInt32LE(v, at);
  }
  u64(v: number) {
    const at = this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), at);
  }
  f32(v: number) {
    const at = this.room(4);
    this.buf.writeFloatLE(v, at);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    const at = this.room(b.length);
    b.copy(this.buf, at);
  }
  pad(to: number) {
    const n = (to - (this.length % to)) % to;
    const at = this.room(n);
    this.buf.fill(0, at, at + n);
  }
  bytes() {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(b: Bytes, v: MetaValue) {
  switch (v.type) {
    case 'u32':
      b.u32(T.UINT32);
      b.u32(v.value);
      break;
    case 'f32':
      b.u32(T.FLOAT32);
      b.f32(v.value);
      break;
    case 'bool':
      b.u32(T.BOOL);
      b.u8(v.value ? 1 : 0);
      break;
    case 'string':
      b.u32(T.STRING);
      b.str(v.value);
      break;
    case 'strings':
      b.u32(T.ARRAY);
      b.u32(T.STRING);
      b.u64(v.value.length);
      for (const s of v.value) b.str(s);
      break;
    case 'f32s':
      b.u32(T.ARRAY);
      b.u32(T.FLOAT32);
      b.u64(v.value.length);
      for (const x of v.value) b.f32(x);
      break;
    case 'i32s':
      b.u32(T.ARRAY);
      b.u32(T.INT32);
      b.u64(v.value.length);
      for (const x of v.value) b.i32(x);
      break;
  }
}

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

/** IEEE half precision bits of `v`, rounded to nearest even (Node 20 has no Float16Array). */
export function toHalf(v: number): number {
  f32View[0] = v;
  const x = u32View[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

function tensorBytes(t: Tensor): Buffer {
  if ((t.type ?? 'f32') === 'f32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  // Host order, as for f32 above: every platform node-llama-cpp ships for is little-endian.
  const out = new Uint16Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = toHalf(t.data[i]!);
  return Buffer.from(out.buffer);
}

/**
 * Writes a GGUF v3 file: header, metadata, tensor infos, then tensor data aligned to
 * 32 bytes. Written to a temporary name in the same directory and renamed, so a crash
 * or a concurrent writer never leaves half a model under the final name.
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
  const data = tensors.map(tensorBytes);
  let offset = 0;
  tensors.forEach((t, i) => {
    const elements = t.dims.reduce((n, d) => n * d, 1);
    if (elements !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join('x')} do not match ${t.data.length} values`);
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(GGML_TYPE[t.type ?? 'f32']);
    b.u64(offset);
    offset += data[i]!.length;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  });
  b.pad(ALIGNMENT);
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(tmp, 'w', 0o600); // owner-only, like everything in the data dir
  try {
    fs.writeSync(fd, b.bytes());
    for (const d of data) {
      fs.writeSync(fd, d);
      const pad = (ALIGNMENT - (d.length % ALIGNMENT)) % ALIGNMENT;
      if (pad) fs.writeSync(fd, Buffer.alloc(pad));
    }
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
