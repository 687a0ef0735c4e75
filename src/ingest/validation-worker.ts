import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { BatchFileValidator } from './batch-file-validator.js';
import type { FromWorker, ToWorker } from './validation-pool.js';

/**
 * Runs in a worker thread: validates and fingerprints one upload at a time, so a
 * 512 MB file's JSON parsing never blocks the server's event loop.
 */
let validator: BatchFileValidator | null = null;
let hash = createHash('blake2b512');

parentPort!.on('message', (msg: ToWorker) => {
  if (msg.type === 'start') {
    validator = new BatchFileValidator(msg.opts);
    hash = createHash('blake2b512');
  } else if (msg.type === 'chunk') {
    const buf = Buffer.from(msg.data, 0, msg.length);
    validator!.push(buf);
    hash.update(buf);
    // The validator copies what it keeps, so the buffer can go back for reuse.
    parentPort!.postMessage({ type: 'ack', data: msg.data, length: msg.length } satisfies FromWorker, [msg.data]);
  } else {
    const summary = validator!.end();
    validator = null;
    parentPort!.postMessage({ type: 'done', summary, signature: hash.digest('hex').slice(0, 16) });
  }
});
