import type { LlamaContext, LlamaContextSequence } from 'node-llama-cpp';

type Priority = 'online' | 'batch';

/**
 * The continuous-batching pool: a context's parallel sequences, handed out one request
 * at a time. llama.cpp evaluates all busy sequences in shared batches, and a sequence
 * freed by a finished request goes at once to the next waiter: online requests first,
 * but every `batchEvery`-th grant goes to a waiting batch request, so batch work never starves.
 */
export class SequencePool {
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiting: Record<Priority, ((s: LlamaContextSequence) => void)[]> = { online: [], batch: [] };
  private grants = 0;

  constructor(readonly context: LlamaContext, size: number, private readonly batchEvery = 4) {
    for (let i = 0; i < size; i++) this.free.push(context.getSequence());
  }

  acquire(priority: Priority, signal: AbortSignal): Promise<LlamaContextSequence> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const seq = this.free.pop();
    if (seq) return Promise.resolve(seq);
    return new Promise((resolve, reject) => {
      const queue = this.waiting[priority];
      const grant = (s: LlamaContextSequence) => {
        signal.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
    });
  }

  /** Clears the sequence's tokens and gives it to the next waiter. */
  async release(seq: LlamaContextSequence): Promise<void> {
    await seq.clearHistory();
    this.grants++;
    const batchTurn = this.grants % this.batchEvery === 0 && this.waiting.batch.length > 0;
    const next = (batchTurn ? this.waiting.batch.shift() : undefined) ?? this.waiting.online.shift() ?? this.waiting.batch.shift();
    if (next) next(seq);
    else this.free.push(seq);
  }
}
