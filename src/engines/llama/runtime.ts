import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { backendReport, gpuOption, recordBackend, type BackendReport, type GpuSetting } from './backend.js';
import { validateModelFile } from './model-file.js';

let current: { setting: GpuSetting; llama: Promise<Llama> } | null = null;

/**
 * llama.cpp's backend, loaded once per process: with `auto` the best prebuilt build that
 * works here (CUDA, Vulkan or Metal where a GPU and its driver are present, else the CPU
 * build), each shipped inside an npm package, so nothing is ever built or downloaded at
 * run time (`build: 'never'`). The first caller's setting wins; one process runs one
 * backend. Log level error: llama.cpp's info logs cost ~100x at debug and say nothing a
 * server operator needs.
 */
export function loadLlama(setting: GpuSetting = current?.setting ?? 'auto'): Promise<Llama> {
  if (current) return current.llama;
  const llama = getLlama({ gpu: gpuOption(setting), build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false }).then(
    async (l) => {
      // Kept for /health, which must not load the native library itself.
      if (current?.llama === llama) recordBackend(await backendReport(l, setting));
      return l;
    },
    (err: unknown) => {
      if (current?.llama === llama) current = null;
      if (setting === 'auto' || setting === 'off') throw err;
      throw new Error(
        `BATCHD_LLAMA_GPU=${setting}: no working ${setting} build of llama.cpp on this machine (${(err as Error).message}); set it to auto or off, or install the driver`,
      );
    },
  );
  current = { setting, llama };
  return llama;
}

/** The backend the loaded llama.cpp runs on (loading it with `setting` if nothing has yet). */
export async function llamaBackend(setting?: GpuSetting): Promise<BackendReport> {
  const llama = await loadLlama(setting);
  return backendReport(llama, current?.setting ?? setting ?? 'auto');
}

/** Releases the native backend once nothing uses it (tests and shutdown). */
export async function disposeLlama(): Promise<void> {
  const p = current?.llama;
  current = null;
  recordBackend(null);
  if (p) await (await p.catch(() => null))?.dispose();
}

/**
 * Loads a model file after vetting its header, so a missing, truncated or non-GGUF
 * file is an error naming the file, never a native abort. On a GPU backend as many
 * layers as fit go to video memory (`gpuLayers: 'auto'`, leaving room for a context of
 * `fitContext` tokens); on the CPU backend none.
 */
export async function loadModelFile(file: string, opts: { gpu?: GpuSetting; fitContext?: number } = {}): Promise<LlamaModel> {
  await validateModelFile(file);
  const llama = await loadLlama(opts.gpu);
  try {
    const gpuLayers = llama.gpu === false ? 0 : opts.fitContext ? { fitContext: { contextSize: opts.fitContext } } : 'auto';
    return await llama.loadModel({ modelPath: file, gpuLayers });
  } catch (err) {
    throw new Error(`model file ${file} could not be loaded by llama.cpp: ${(err as Error).message}`);
  }
}
