import type { Llama, LlamaOptions as NodeLlamaOptions } from 'node-llama-cpp';

// No runtime import of node-llama-cpp here: config.ts parses BATCHD_LLAMA_GPU through this file.

/** BATCHD_LLAMA_GPU: which llama.cpp build to run. `auto` takes the best one node-llama-cpp finds working. */
export const GPU_SETTINGS = ['auto', 'off', 'cuda', 'vulkan', 'metal'] as const;
export type GpuSetting = (typeof GPU_SETTINGS)[number];

export function parseGpuSetting(value: string | undefined, name = 'BATCHD_LLAMA_GPU'): GpuSetting {
  if (value === undefined || value === '') return 'auto';
  const v = value.trim().toLowerCase();
  if (v === 'cpu' || v === 'false' || v === '0') return 'off';
  if ((GPU_SETTINGS as readonly string[]).includes(v)) return v as GpuSetting;
  throw new Error(`${name} must be one of ${GPU_SETTINGS.join(', ')}, got '${value}'`);
}

/** getLlama's `gpu` option for a setting. */
export function gpuOption(setting: GpuSetting): NodeLlamaOptions['gpu'] | false {
  return setting === 'off' ? false : setting;
}

/** The compute backend the embedded engine runs on, as /health and the start-up line report it. */
export interface BackendReport {
  /** `cpu`, or the GPU build in use: `cuda`, `vulkan`, `metal`. */
  backend: 'cpu' | 'cuda' | 'vulkan' | 'metal';
  /** What BATCHD_LLAMA_GPU asked for. */
  requested: GpuSetting;
  /** GPU device names (empty on the CPU backend). */
  devices: string[];
  /** Video memory in bytes (0 on the CPU backend; on unified-memory Macs the shared RAM). */
  vram: { total: number; free: number };
  /** CPU cores llama.cpp counts as useful for math. */
  cpuMathCores: number;
}

export async function backendReport(llama: Llama, requested: GpuSetting): Promise<BackendReport> {
  const backend = llama.gpu === false ? 'cpu' : llama.gpu;
  const [devices, vram] = backend === 'cpu' ? [[], { total: 0, free: 0 }] : await Promise.all([llama.getGpuDeviceNames(), llama.getVramState()]);
  return { backend, requested, devices, vram: { total: vram.total, free: vram.free }, cpuMathCores: llama.cpuMathCores };
}

/** One line for the start-up log: `llama.cpp backend: cuda (NVIDIA A10G, 22.1 GiB free of 24.0 GiB)` or `cpu (2 cores)`. */
export function describeBackend(r: BackendReport): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const where =
    r.backend === 'cpu' ? `${r.cpuMathCores} cores` : `${r.devices.join(', ') || 'unnamed device'}, ${gib(r.vram.free)} free of ${gib(r.vram.total)}`;
  const asked = r.requested === 'auto' || r.requested === r.backend || (r.requested === 'off' && r.backend === 'cpu') ? '' : ` (asked for ${r.requested})`;
  return `llama.cpp backend: ${r.backend} (${where})${asked}`;
}

/** A loaded model as /health shows it: where its layers run and how its contexts are laid out. */
export interface LoadedModelReport {
  /** The GGUF's file name (not its path: /health needs no key). */
  file: string;
  gpuLayers: number;
  totalLayers: number;
  /** Tokens per sequence. */
  contextSize: number;
  /** The model's trained context. */
  trainedContextSize: number;
  sequences: number;
  contexts: number;
}

// What this process has loaded, kept here (no node-llama-cpp import) so /health can read it without loading the native library.
let loadedBackend: BackendReport | null = null;
const loadedModels = new Map<string, LoadedModelReport>();

export function recordBackend(report: BackendReport | null): void {
  loadedBackend = report;
  if (report === null) loadedModels.clear();
}

export function recordModel(key: string, report: LoadedModelReport | null): void {
  if (report) loadedModels.set(key, report);
  else loadedModels.delete(key);
}

/**
 * The embedded engine's part of GET /health: the backend and the models this process has
 * loaded. `backend` is null until something loads llama.cpp (a model's first request, or
 * the start of `batchd serve`): /health never loads the native library itself.
 */
export function llamaHealth() {
  const b = loadedBackend;
  return {
    backend: b?.backend ?? null,
    requested: b?.requested ?? null,
    devices: b?.devices ?? [],
    vram_bytes: b ? b.vram : null,
    models: [...loadedModels.values()].map((m) => ({
      file: m.file,
      gpu_layers: m.gpuLayers,
      total_layers: m.totalLayers,
      context_size: m.contextSize,
      trained_context_size: m.trainedContextSize,
      sequences: m.sequences,
      contexts: m.contexts,
    })),
  };
}
