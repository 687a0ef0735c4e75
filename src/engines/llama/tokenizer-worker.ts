import { parentPort, workerData } from 'node:worker_threads';
import { Guard } from './guard.js';
import { createFormatter } from './prompts.js';
import { loadLlama } from './runtime.js';
import { encodeError, encodeResult, runTokenizeOp, type TokenizeOp } from './tokenize-ops.js';

/**
 * The tokenizer thread of one model file: the file's vocabulary only (`vocabOnly`, no
 * weights: a few MB), with the same formatter and guard prompts as the engine, so that
 * tokens made here are the ones the event loop would have made. One op at a time.
 */
const { file } = workerData as { file: string };
const port = parentPort!;
const ready = (async () => {
  const llama = await loadLlama();
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  const formatter = createFormatter(model);
  return { model, formatter, guard: new Guard(model, formatter) };
})();

port.on('message', async (msg: { id: number; op: TokenizeOp }) => {
  try {
    const kit = await ready;
    const { wire, transfer } = encodeResult(msg.op.kind, runTokenizeOp(kit, msg.op));
    port.postMessage({ id: msg.id, ok: true, wire }, transfer);
  } catch (err) {
    port.postMessage({ id: msg.id, ok: false, error: encodeError(err) });
  }
});
