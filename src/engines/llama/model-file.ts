import fs from 'node:fs';
import { readGgufSummary, type GgufSummary } from './gguf/gguf-reader.js';

// No node-llama-cpp here: the server vets model files at start-up without loading the native library.

/** Architectures without attention heads or a feed-forward size (state-space and RWKV models). */
const NO_ATTENTION = new Set(['mamba', 'mamba2', 'rwkv6', 'rwkv6qwen2', 'rwkv7', 'arwkv7']);

/**
 * Checks a model file before llama.cpp sees it, so a wrong path, a file that is not a
 * GGUF, a truncated download or missing hyperparameters give an error naming the file
 * and the problem, never a native abort. Reads only the header; returns it.
 */
export async function validateModelFile(file: string): Promise<GgufSummary> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `model file ${file} does not exist` : `model file ${file} cannot be read: ${(err as Error).message}`);
  }
  if (!stat.isFile()) throw new Error(`model file ${file} is not a regular file`);
  let info: GgufSummary;
  try {
    info = readGgufSummary(file);
  } catch (err) {
    const m = (err as Error).message;
    const what = m.startsWith('not a GGUF') ? m : m.includes('version') ? `unusable: ${m}` : `corrupt or truncated: ${m}`;
    throw new Error(`model file ${file} is ${what}`);
  }
  const arch = info.metadata.get('general.architecture');
  if (typeof arch !== 'string') throw new Error(`model file ${file} is missing required metadata (general.architecture)`);
  // Without these llama.cpp fails with a bare "Failed to load model", so they are named here.
  const required = [`${arch}.context_length`, `${arch}.block_count`, `${arch}.embedding_length`, 'tokenizer.ggml.model', 'tokenizer.ggml.tokens'];
  // Without these an attention model makes llama.cpp assert, killing the whole process.
  if (!NO_ATTENTION.has(arch)) required.push(`${arch}.feed_forward_length`, `${arch}.attention.head_count`);
  for (const key of required) {
    if (!info.metadata.has(key)) throw new Error(`model file ${file} is missing required metadata (${key})`);
  }
  if (info.tensors.length === 0) throw new Error(`model file ${file} contains no tensors`);
  for (const t of info.tensors) {
    const end = info.dataStart + t.offset + (t.bytes ?? 1);
    if (end > info.fileSize) {
      throw new Error(`model file ${file} is truncated: tensor ${t.name} needs bytes up to ${end}, the file has ${info.fileSize}`);
    }
  }
  return info;
}
