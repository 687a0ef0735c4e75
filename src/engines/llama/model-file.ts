import fs from 'node:fs';
import { readGgufSummary } from './gguf/gguf-reader.js';

// No node-llama-cpp here: the server vets model files at start-up without loading the native library.

/**
 * Checks a model file before llama.cpp sees it, so a wrong path or a file that is not
 * a GGUF gives an error naming the file rather than a native failure.
 */
export function checkModelFile(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `model file ${file} does not exist` : `model file ${file} cannot be read: ${(err as Error).message}`);
  }
  try {
    const head = Buffer.alloc(8);
    const n = fs.readSync(fd, head, 0, 8, 0);
    if (n < 8 || head.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`model file ${file} is not a GGUF file (bad magic bytes)`);
    const version = head.readUInt32LE(4);
    if (version < 2 || version > 3) throw new Error(`model file ${file} has GGUF version ${version}; versions 2 and 3 are supported`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A fuller check than the magic bytes: the header parses, the architecture's
 * hyperparameters whose absence aborts llama.cpp natively are present, and no tensor
 * starts past the end of the file (a truncated download). Reads only the header.
 */
export async function validateModelFile(file: string): Promise<void> {
  checkModelFile(file);
  let info;
  try {
    info = readGgufSummary(file);
  } catch (err) {
    throw new Error(`model file ${file} is corrupt: ${(err as Error).message}`);
  }
  const arch = info.metadata.get('general.architecture');
  for (const key of [`${arch}.feed_forward_length`, `${arch}.attention.head_count`]) {
    if (arch === undefined || !info.metadata.has(key)) throw new Error(`model file ${file} is missing required metadata (${arch === undefined ? 'general.architecture' : key})`);
  }
  const size = fs.statSync(file).size;
  const last = Math.max(0, ...info.tensors.map((t) => t.offset));
  if (info.tensors.length === 0 || info.dataStart + last >= size) {
    throw new Error(`model file ${file} is truncated: the file ends (at ${size} bytes) before its tensor data`);
  }
}
