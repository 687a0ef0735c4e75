import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotPool, type Priority } from '../../src/engines/llama/sequence-pool.js';

const never = new AbortController().signal;

/** A sequence as far as grouping sees it: the prefix it holds after its last request. */
interface Seq {
  holds: string;
}

/** Fits a sequence holding `prefix` (a positive score), and nothing else (0, as prefix-reuse.ts scores a short shared start). */
const fitFor = (prefix: string | null) => (prefix === null ? undefined : (s: Seq) => (s.holds === prefix ? 1000 : -5));

/**
 * Queues waiters (label, priority, prefix of their prompt) behind a pool whose only
 * sequence is taken and holds `first`, then frees it once per waiter; each grant leaves
 * the sequence holding the served waiter's prefix, as a finished request does. Returns
 * the labels in the order served.
 */
async function serveOrder(first: string, waiters: [string, Priority, string | null][], tune: Partial<Pick<SlotPool<Seq>, 'lookahead' | 'maxPasses'>> = {}) {
  const seq: Seq = { holds: first };
  const pool = Object.assign(new SlotPool<Seq>([seq]), tune);
  await pool.acquire('batch', never);
  const order: string[] = [];
  const all = waiters.map(([label, priority, prefix]) =>
    pool.acquire(priority, never, fitFor(prefix)).then((s) => {
      order.push(label);
      if (prefix !== null) s.holds = prefix;
    }),
  );
  for (let i = 0; i < waiters.length; i++) {
    pool.release(seq);
    // Let the grant run (it records the waiter and sets what the sequence holds) before the next release.
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(all);
  return order;
}

describe('sequence pool: grouping batch lines by the prefix a freed sequence holds', () => {
  test('a freed sequence goes to the waiting line whose prefix it holds; lines it cannot serve better keep their order', async () => {
    const order = await serveOrder('A', [
      ['b1', 'batch', 'B'],
      ['a1', 'batch', 'A'],
      ['b2', 'batch', 'B'],
      ['a2', 'batch', 'A'],
      ['c1', 'batch', 'C'],
    ]);
    // Holding A: a1, a2; then nothing fits, so the first in line (b1); holding B: b2; then c1.
    assert.deepEqual(order, ['a1', 'a2', 'b1', 'b2', 'c1']);
  });

  test('only lines within the lookahead are considered; a lookahead of 1 (the baseline) is first come, first served', async () => {
    const waiters: [string, Priority, string][] = [
      ['b1', 'batch', 'B'],
      ['a1', 'batch', 'A'],
      ['c1', 'batch', 'C'],
      ['a2', 'batch', 'A'],
    ];
    assert.deepEqual(await serveOrder('A', waiters, { lookahead: 4 }), ['a1', 'a2', 'b1', 'c1']);
    // Within two, a1 is in reach, a2 is not (b1 and c1 come first).
    assert.deepEqual(await serveOrder('A', waiters, { lookahead: 2 }), ['a1', 'b1', 'c1', 'a2']);
    assert.deepEqual(await serveOrder('A', waiters, { lookahead: 1 }), ['b1', 'a1', 'c1', 'a2']);
  });

  test('no starvation: a line passed over maxPasses times is served next, whatever fits better', async () => {
    const waiters: [string, Priority, string | null][] = [
      ['x', 'batch', 'X'],
      ...Array.from({ length: 6 }, (_, i): [string, Priority, string] => [`a${i + 1}`, 'batch', 'A']),
    ];
    const order = await serveOrder('A', waiters, { maxPasses: 3 });
    assert.deepEqual(order, ['a1', 'a2', 'a3', 'x', 'a4', 'a5', 'a6']);
  });

  test('a line that needs an empty sequence (no fit) is not passed over for lines that gain nothing', async () => {
    const order = await serveOrder('A', [
      ['guard', 'batch', null],
      ['b1', 'batch', 'B'],
      ['a1', 'batch', 'A'],
    ]);
    // a1 gains the held prefix and goes first; b1 gains nothing, so the guard line keeps its place before it.
    assert.deepEqual(order, ['a1', 'guard', 'b1']);
  });

  test('online requests keep their precedence: they are served first, in order, whatever the batch lines fit', async () => {
    const order = await serveOrder('A', [
      ['a1', 'batch', 'A'],
      ['o1', 'online', 'B'],
      ['o2', 'online', 'A'],
      ['b1', 'batch', 'B'],
      ['a2', 'batch', 'A'],
    ]);
    // Online in arrival order; then the sequence, holding A (o2's prompt), serves a1 and a2 before b1.
    assert.deepEqual(order, ['o1', 'o2', 'a1', 'a2', 'b1']);
  });

  test('every waiter is served exactly once', async () => {
    const prefixes = ['A', 'B', 'C', 'D'];
    const waiters = Array.from({ length: 40 }, (_, i): [string, Priority, string] => [`l${i}`, i % 7 === 3 ? 'online' : 'batch', prefixes[i % 4]!]);
    const order = await serveOrder('A', waiters, { maxPasses: 5 });
    assert.deepEqual([...order].sort(), waiters.map(([l]) => l).sort());
  });
});
