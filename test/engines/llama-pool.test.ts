import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { SlotPool, type Priority } from '../../src/engines/llama/sequence-pool.js';

const never = new AbortController().signal;

/**
 * Queues the waiters behind a pool whose only slot is taken, then frees the slot once
 * per waiter. A release hands the slot over synchronously, so the order in which the
 * waiters resolve is the order in which the pool chose them.
 */
async function grantOrder(waiters: [string, Priority][], onlineRun = 3): Promise<string[]> {
  const pool = new SlotPool(['slot'], onlineRun);
  await pool.acquire('batch', never);
  const order: string[] = [];
  const all = waiters.map(([label, priority]) => pool.acquire(priority, never).then(() => order.push(label)));
  for (let i = 0; i < waiters.length; i++) pool.release('slot');
  await Promise.all(all);
  return order;
}

describe('continuous-batching slot pool', () => {
  test('a free slot is handed out at once; a freed slot goes to the next waiter', async () => {
    const pool = new SlotPool(['a', 'b']);
    const got = [await pool.acquire('batch', never), await pool.acquire('batch', never)];
    assert.deepEqual(got.sort(), ['a', 'b']);
    assert.equal(pool.idle, 0);
    const waiting = pool.acquire('batch', never);
    assert.equal(pool.queued, 1);
    pool.release('a');
    assert.equal(await waiting, 'a');
    pool.release('a');
    pool.release('b');
    assert.equal(pool.idle, 2);
  });

  test('online waiters are served before batch waiters that queued earlier', async () => {
    const order = await grantOrder([
      ['b1', 'batch'],
      ['b2', 'batch'],
      ['o1', 'online'],
      ['o2', 'online'],
    ]);
    assert.deepEqual(order, ['o1', 'o2', 'b1', 'b2']);
  });

  test('batch work is not starved: after three online grants in a row a batch waiter gets one', async () => {
    const waiters: [string, Priority][] = [
      ['b1', 'batch'],
      ['b2', 'batch'],
      ...Array.from({ length: 7 }, (_, i): [string, Priority] => [`o${i + 1}`, 'online']),
    ];
    const order = await grantOrder(waiters);
    assert.deepEqual(order, ['o1', 'o2', 'o3', 'b1', 'o4', 'o5', 'o6', 'b2', 'o7']);
  });

  test('an aborted waiter leaves the queue and never takes a slot', async () => {
    const pool = new SlotPool(['only']);
    const held = await pool.acquire('batch', never);
    const ac = new AbortController();
    const aborted = pool.acquire('online', ac.signal);
    const next = pool.acquire('batch', never);
    ac.abort(new Error('gone'));
    await assert.rejects(aborted, /gone/);
    assert.equal(pool.queued, 1);
    pool.release(held);
    assert.equal(await next, 'only');
    await assert.rejects(pool.acquire('batch', ac.signal), /gone/, 'an already-aborted signal is refused at once');
  });

  test('waiters sharing a signal (a chunk of lines) add one abort listener, and an abort rejects them all', async () => {
    const pool = new SlotPool(['only']);
    const held = await pool.acquire('batch', never);
    const ac = new AbortController();
    const waiters = Array.from({ length: 50 }, (_, i) => pool.acquire(i % 2 ? 'online' : 'batch', ac.signal));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    pool.release(held);
    assert.equal(await waiters[1], 'only', 'the first online waiter got the slot');
    ac.abort(new Error('chunk lost'));
    const results = await Promise.allSettled(waiters);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 49);
    assert.equal(pool.queued, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });
});
