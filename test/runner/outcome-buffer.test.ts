import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OutcomeBuffer } from '../../src/runner/outcome-buffer.js';
import { Slots } from '../../src/runner/slots.js';
import { failedWithoutResponse, type LineOutcome } from '../../src/results/render.js';

const outcome = (lineNo: number): LineOutcome => failedWithoutResponse(lineNo, `r${lineNo}`, 'batch_cancelled', 'test');
/** Runs the microtasks queued so far, and those they queue, a few levels deep. */
const microtasks = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};
const afterIo = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('outcome buffer (group commit of line records)', () => {
  test('a full batch is written after the I/O callbacks already due, not among them, in batches of at most maxBatch', async () => {
    const writes: number[][] = [];
    const buffer = new OutcomeBuffer(
      async (outcomes) => (writes.push(outcomes.map((o) => o.lineNo)), true),
      () => assert.fail('not fenced'),
      4,
      60_000,
    );
    for (let i = 0; i < 6; i++) buffer.add(outcome(i));
    // The four that filled a batch are sealed, but nothing is written while microtasks
    // (the rest of an I/O callback's work, such as sending the next line) still run.
    await microtasks();
    assert.deepEqual(writes, []);
    await afterIo();
    await microtasks();
    assert.deepEqual(writes, [[0, 1, 2, 3]]);
    await buffer.flush();
    assert.deepEqual(writes, [
      [0, 1, 2, 3],
      [4, 5],
    ]);
  });

  test('a refused write (lease lost) fences the buffer: onFenced runs once and later outcomes are dropped', async () => {
    const writes: number[][] = [];
    let fenced = 0;
    const buffer = new OutcomeBuffer(
      async (outcomes) => (writes.push(outcomes.map((o) => o.lineNo)), false),
      () => fenced++,
      2,
      60_000,
    );
    buffer.add(outcome(0));
    buffer.add(outcome(1));
    await buffer.flush();
    buffer.add(outcome(2));
    buffer.add(outcome(3));
    await buffer.flush();
    assert.deepEqual(writes, [[0, 1]]);
    assert.equal(fenced, 1);
  });

  test('a failed write rejects flush with its error', async () => {
    const buffer = new OutcomeBuffer(
      async () => {
        throw new Error('disk gone');
      },
      () => undefined,
      8,
      60_000,
    );
    buffer.add(outcome(0));
    await assert.rejects(buffer.flush(), /disk gone/);
  });
});

describe('slots', () => {
  test('tryAcquire takes a free slot at once and refuses when none is free; a release goes to the oldest waiter first', async () => {
    const slots = new Slots(2);
    assert.equal(slots.tryAcquire(), true);
    assert.equal(slots.tryAcquire(), true);
    assert.equal(slots.tryAcquire(), false);
    const order: string[] = [];
    const a = slots.acquire().then(() => order.push('a'));
    const b = slots.acquire().then(() => order.push('b'));
    slots.release();
    await a;
    // The slot passed to the waiter: still none free.
    assert.equal(slots.tryAcquire(), false);
    slots.release();
    await b;
    assert.deepEqual(order, ['a', 'b']);
    slots.release();
    slots.release();
    assert.equal(slots.tryAcquire(), true);
  });

  test('an aborted wait leaves the queue and rejects with the reason', async () => {
    const slots = new Slots(1);
    assert.equal(slots.tryAcquire(), true);
    const ac = new AbortController();
    const waiting = slots.acquire(ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
    slots.release();
    assert.equal(slots.tryAcquire(), true);
  });
});
