import { after } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateTinyModel, type TinyModelOptions } from '../../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama } from '../../src/engines/llama/llama-engine.js';
import type { ModelEntry } from '../../src/models/registry.js';

/** For engine calls that are never cancelled. */
export const never = new AbortController().signal;

/** A registry entry serving the GGUF at `file` on the embedded engine. */
export const llamaEntry = (file: string, id = 'm'): ModelEntry => ({
  id,
  engine: 'llama',
  path: file,
  endpoints: [],
  max_in_flight: 4,
  input_price_per_mtok: 0,
  output_price_per_mtok: 0,
  context_length: 2048,
});

/**
 * A temp directory for a test file's generated GGUF models; after the file's tests, every
 * loaded model and the native backend are released and the directory removed.
 */
export function generatedModels(prefix: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(async () => {
    await closeAllLlama();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    /** Generates `<name>.gguf` in the directory (tiny-model.ts) and returns its path. */
    file(name: string, opts: TinyModelOptions = {}): string {
      const file = path.join(dir, `${name}.gguf`);
      generateTinyModel(file, opts);
      return file;
    },
  };
}
