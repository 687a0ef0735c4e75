import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { validateModelFile } from './model-file.js';

let llamaPromise: Promise<Llama> | null = null;

/** The CPU backend shipped inside the npm package: never built or downloaded at run time. */
export function loadLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  return llamaPromise;
}

const models = new Map<string, { model: Promise<LlamaModel>; refs: number }>();

/** One loaded model per file, shared by every registry entry that points at it. */
export async function acquireModel(file: string): Promise<LlamaModel> {
  let entry = models.get(file);
  if (!entry) {
    const model = validateModelFile(file).then(loadLlama).then((llama) =>
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
