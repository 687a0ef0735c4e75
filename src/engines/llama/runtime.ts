import fs from 'node:fs';
import { getLlama, LlamaLogLevel, readGgufFileInfo, type Llama, type LlamaModel } from 'node-llama-cpp';

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

/**
 * A fuller check than the magic bytes: the header parses, the architecture's
 * hyperparameters whose absence aborts llama.cpp natively are present, and no tensor
 * starts past the end of the file (a truncated download).
 */
export async function validateModelFile(file: string): Promise<void> {
  checkModelFile(file);
  let info;
  try {
    info = await readGgufFileInfo(file, { readTensorInfo: true, logWarnings: false, sourceType: 'filesystem', ignoreKeys: ['tokenizer.ggml.merges'] });
  } catch (err) {
    throw new Error(`model file ${file} is corrupt: ${(err as Error).message}`);
  }
  const meta = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const arch = (meta.general as { architecture?: string } | undefined)?.architecture;
  const hyper = arch ? (meta[arch] as { feed_forward_length?: unknown; attention?: { head_count?: unknown } } | undefined) : undefined;
  if (!arch || !hyper || hyper.feed_forward_length === undefined || hyper.attention?.head_count === undefined) {
    throw new Error(`model file ${file} is missing required metadata (general.architecture, ${arch ?? '<arch>'}.feed_forward_length, ${arch ?? '<arch>'}.attention.head_count)`);
  }
  const size = fs.statSync(file).size;
  const last = Math.max(0, ...(info.tensorInfo ?? []).map((t) => Number(t.fileOffset)));
  if (!info.tensorInfo?.length || last >= size) throw new Error(`model file ${file} is truncated: the file ends (at ${size} bytes) before its tensor data`);
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
