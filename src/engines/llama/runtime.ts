import fs from 'node:fs';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';

let llamaPromise: Promise<Llama> | null = null;

/** The CPU backend shipped inside the npm package: never built or downloaded at run time. */
export function loadLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  return llamaPromise;
}

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

const models = new Map<string, { model: Promise<LlamaModel>; refs: number }>();

/** One loaded model per file, shared by every registry entry that points at it. */
export async function acquireModel(file: string): Promise<LlamaModel> {
  let entry = models.get(file);
  if (!entry) {
    checkModelFile(file);
    const model = loadLlama().then((llama) =>
      llama.loadModel({ modelPath: file }).catch((err: Error) => {
        throw new Error(`model file ${file} could not be loaded: ${err.message}`);
      }),
    );
    entry = { model, refs: 0 };
    models.set(file, entry);
    model.catch(() => models.delete(file));
  }
  entry.refs++;
  return entry.model;
}

export async function releaseModel(file: string): Promise<void> {
  const entry = models.get(file);
  if (!entry || --entry.refs > 0) return;
  models.delete(file);
  await (await entry.model).dispose();
}
