import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { Slots } from '../../src/runner/slots.js';
import { sleep } from '../../src/runner/retry.js';
import { SlotPool } from '../../src/engines/llama/sequence-pool.js';

/** A chunk's one signal is shared by every wait of its lines: it must carry one listener, not one per wait. */
describe('waits on one abort signal', () => {
  test('slot waits, backoff sleeps and sequence waits share one listener, and all end on abort', async () => {
    const ac = new AbortController();
    const slots = new Slots(1);
    await slots.acquire(ac.signal);
    const pool = new SlotPool<number>([]);
    const waits = [
      ...Array.from({ length: 20 }, () => slots.acquire(ac.signal)),
      ...Array.from({ length: 20 }, () => sleep(60_000, ac.signal)),
      ...Array.from({ length: 20 }, (_, i) => pool.acquire(i % 2 ? 'online' : 'batch', ac.signal)),
    ];
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort(new Error('chunk stopped'));
    const settled = await Promise.allSettled(waits);
    assert.ok(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'chunk stopped'));
    assert.equal(pool.queued, 0);
  });
});
