import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getLlamaGpuTypes } from 'node-llama-cpp';
import { loadConfig } from '../../src/config.js';
import { describeBackend, llamaHealth, parseGpuSetting } from '../../src/engines/llama/backend.js';
import { generateTinyModel } from '../../src/engines/llama/gguf/tiny-model.js';
import { closeAllLlama, createLlamaEngine } from '../../src/engines/llama/llama-engine.js';
import { llamaBackend } from '../../src/engines/llama/runtime.js';
import type { ModelEntry } from '../../src/models/registry.js';
import { startTestServer } from '../helpers/server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-backend-'));
after(async () => {
  await closeAllLlama();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The GPU builds that work on this machine ([] here: no GPU, so the CPU build runs). */
const workingGpus = async () => (await getLlamaGpuTypes('supported')).filter((g) => g !== false);

describe('BATCHD_LLAMA_GPU', () => {
  test('is off, auto, cuda, vulkan or metal; anything else stops the start naming the variable', () => {
    assert.equal(parseGpuSetting(undefined), 'auto');
    assert.equal(parseGpuSetting('CUDA'), 'cuda');
    assert.equal(parseGpuSetting('off'), 'off');
    assert.equal(parseGpuSetting('cpu'), 'off');
    assert.equal(loadConfig({}, { BATCHD_LLAMA_GPU: 'vulkan' }).llama.gpu, 'vulkan');
    assert.equal(loadConfig({}, {}).llama.gpu, 'auto');
    assert.throws(() => loadConfig({}, { BATCHD_LLAMA_GPU: 'rocm' }), /BATCHD_LLAMA_GPU must be one of auto, off, cuda, vulkan, metal, got 'rocm'/);
  });

  test('a GPU build that does not work here is a clear error, not a silent fall back to the CPU', async (t) => {
    if ((await workingGpus()).includes('cuda')) return t.skip('this machine runs CUDA');
    const file = path.join(dir, 'cuda.gguf');
    generateTinyModel(file);
    const entry: ModelEntry = {
      id: 'm',
      engine: 'llama',
      path: file,
      endpoints: [],
      max_in_flight: 2,
      input_price_per_mtok: 0,
      output_price_per_mtok: 0,
      context_length: 512,
    };
    await closeAllLlama();
    await assert.rejects(
      createLlamaEngine(entry, { gpu: 'cuda', sequences: 1, contextSize: 512 }),
      /BATCHD_LLAMA_GPU=cuda: no working cuda build of llama.cpp on this machine/,
    );
    await closeAllLlama();
  });
});

describe('the backend report', () => {
  test('names the best backend node-llama-cpp found: the CPU on this machine', async () => {
    await closeAllLlama();
    assert.equal(llamaHealth().backend, null, 'nothing loaded, nothing reported (/health never loads llama.cpp itself)');
    const gpus = await workingGpus();
    const report = await llamaBackend('auto');
    if (gpus.length === 0) {
      assert.equal(report.backend, 'cpu');
      assert.deepEqual(report.devices, []);
      assert.deepEqual(report.vram, { total: 0, free: 0 });
      assert.match(describeBackend(report), /^llama\.cpp backend: cpu \(\d+ cores\)$/);
    } else {
      assert.ok((gpus as string[]).includes(report.backend), `${report.backend} is one of ${gpus.join(', ')}`);
      assert.ok(report.devices.length > 0);
    }
    assert.equal(llamaHealth().backend, report.backend);
    await closeAllLlama();
  });

  test('batchd serve prints it at start; GET /health reports it and how each loaded model is laid out', async () => {
    await closeAllLlama();
    const lines: string[] = [];
    const server = await startTestServer({
      reportBackend: true,
      log: (line) => lines.push(line),
      env: { BATCHD_LLAMA_SEQUENCES: '4', BATCHD_LLAMA_GPU: 'off' },
    });
    try {
      const backendLine = lines.findIndex((l) => l.startsWith('llama.cpp backend: '));
      assert.ok(backendLine >= 0, lines.join('\n'));
      assert.match(lines[backendLine]!, /^llama\.cpp backend: cpu \(\d+ cores\)$/);
      assert.ok(backendLine < lines.findIndex((l) => l.startsWith('batchd listening on')), 'printed before the server says it listens');

      let health = (await fetch(`${server.url}/health`).then((r) => r.json())) as { status: string; engines: { llama: ReturnType<typeof llamaHealth> } };
      assert.equal(health.status, 'ok');
      assert.equal(health.engines.llama.backend, 'cpu');
      assert.equal(health.engines.llama.requested, 'off');
      assert.deepEqual(health.engines.llama.models, []);

      const res = await server.request('POST', '/v1/chat/completions', {
        model: 'mistral-small-latest',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 2,
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      health = (await fetch(`${server.url}/health`).then((r) => r.json())) as typeof health;
      const [model] = health.engines.llama.models;
      // On the CPU: no layer offloaded, one-thread contexts side by side (two on a machine of two or more cores).
      assert.deepEqual(model, {
        file: 'batchd-tiny.gguf',
        gpu_layers: 0,
        total_layers: model!.total_layers,
        context_size: 8192,
        trained_context_size: 8192,
        sequences: 4,
        contexts: Math.min(2, os.availableParallelism()),
      });
      assert.ok(model!.total_layers >= 2);
    } finally {
      await server.stop();
    }
  });
});
