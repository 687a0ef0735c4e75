import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { validateModelFile } from './model-file.js';

let llamaPromise: Promise<Llama> | null = null;

/**
 * The CPU backend shipped inside the npm package: never built or downloaded at run
 * time. Log level error: llama.cpp's info logs cost ~100x at debug and say nothing a
 * server operator needs.
 */
export function loadLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  return llamaPromise;
}

/** Releases the native backend once nothing uses it (tests and shutdown). */
export async function disposeLlama(): Promise<void> {
  const p = llamaPromise;
  llamaPromise = null;
  if (p) await (await p).dispose();
}

/**
 * Loads a model file after vetting its header, so a missing, truncated or non-GGUF
 * file is an error naming the file, never a native abort.
 */
export async function loadModelFile(file: string): Promise<LlamaModel> {
  await validateModelFile(file);
  const llama = await loadLlama();
  try {
    return await llama.loadModel({ modelPath: file });
  } catch (err) {
    throw new Error(`model file ${file} could not be loaded by llama.cpp: ${(err as Error).message}`);
  }
}
