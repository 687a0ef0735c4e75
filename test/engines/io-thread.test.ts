import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { UpstreamClient, type CallPriority } from '../../src/engines/http/upstream-client.js';
import { EngineError } from '../../src/engines/engine.js';
import { UpstreamSlots, type WireError } from '../../src/engines/http/upstream-call.js';
import { IoThread } from '../../src/engines/http/io-thread.js';
import { networkError } from '../../src/engines/http/errors.js';

const body = (text: string) => ({ model: 'm', messages: [{ role: 'user', content: text }] });
const never = new AbortController().signal;

/** The same rules hold whether the calls run on the upstream I/O thread or in this thread. */
for (const ioThread of [true, false]) {
  describe(`upstream client calls ${ioThread ? 'on the I/O thread' : 'in the main thread'}`, () => {
    let up: FakeUpstream;
    const clients: UpstreamClient[] = [];
    const client = (connections: number, requestTimeoutMs = 10_000) => {
      const c = new UpstreamClient({ baseUrl: `${up.url}`, connections, requestTimeoutMs, ioThread });
      clients.push(c);
      return c;
    };
    before(async () => {
      up = await startFakeUpstream({ latencyMs: 40 });
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await up.close();
    });

    test('at most `connections` calls reach the upstream at once; the rest wait and all are answered', async () => {
      up.reset();
      up.setLatency(10);
      const c = client(3);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => c.postJson('/chat/completions', body(`n${i}`), never, 'batch')));
      assert.equal(answers.length, 20);
      assert.ok(answers.every((a) => a.object === 'chat.completion'));
      assert.deepEqual([up.stats.total, up.stats.maxInFlight], [20, 3]);
    });

    test('an online call goes before batch calls already waiting for a connection', async () => {
      up.reset();
      up.setLatency(40);
      const c = client(2);
      const order: string[] = [];
      const call = (name: string, priority: CallPriority) =>
        c.postJson('/chat/completions', body(name), never, priority).then(() => {
          order.push(name);
        });
      // Two batch calls take both connections, four more wait; then an online call comes.
      const batch = Array.from({ length: 6 }, (_, i) => call(`batch${i}`, 'batch'));
      await new Promise((r) => setTimeout(r, 10));
      await Promise.all([...batch, call('online', 'online')]);
      // It was sent as soon as a connection freed: in the second pair, before batch2..5 waiting ahead of it.
      assert.ok(order.indexOf('online') <= 3, `answered in the order ${order.join(', ')}`);
      assert.ok(order.indexOf('online') < order.indexOf('batch3'), `answered in the order ${order.join(', ')}`);
    });

    test('online and batch calls together never exceed `connections` at the upstream (online ones may run from this thread)', async () => {
      up.reset();
      up.setLatency(30);
      const c = client(4);
      const batch = Array.from({ length: 12 }, (_, i) => c.postJson('/chat/completions', body(`b${i}`), never, 'batch'));
      await new Promise((r) => setTimeout(r, 5));
      // Some online calls while the batch holds every slot, more once it has drained.
      const online = Array.from({ length: 3 }, (_, i) => c.postJson('/chat/completions', body(`o${i}`), never, 'online'));
      await Promise.all(batch);
      const later = Array.from({ length: 6 }, (_, i) => c.postJson('/chat/completions', body(`l${i}`), never, i % 2 ? 'online' : 'batch'));
      await Promise.all([...online, ...later]);
      assert.deepEqual([up.stats.total, up.stats.maxInFlight, up.stats.inFlight], [21, 4, 0]);
    });

    test('the deadline counts from when a call is sent, not while it waits for a connection', async () => {
      up.reset();
      up.setLatency(150);
      // One connection, three calls of 150 ms each with a 250 ms deadline: the third waits
      // 300 ms for the connection, which must not count against it.
      const c = client(1, 250);
      const answers = await Promise.all(Array.from({ length: 3 }, (_, i) => c.postJson('/chat/completions', body(`d${i}`), never, 'batch')));
      assert.equal(answers.length, 3);
      up.setLatency(400);
      await assert.rejects(c.postJson('/chat/completions', body('slow'), never, 'batch'), (e: EngineError) => {
        assert.equal(e.code, 'upstream_timeout');
        assert.match(e.message, /within 250 ms/);
        return true;
      });
    });

    test('aborting a call that waits for a connection rejects it at once, and it never reaches the upstream', async () => {
      up.reset();
      up.setLatency(100);
      const c = client(1);
      const first = c.postJson('/chat/completions', body('first'), never, 'batch');
      const ac = new AbortController();
      const waiting = c.postJson('/chat/completions', body('waiting'), ac.signal, 'batch');
      await new Promise((r) => setTimeout(r, 20));
      ac.abort(new Error('job cancelled'));
      await assert.rejects(waiting, (e: Error) => e.name === 'AbortError' && /job cancelled/.test(e.message));
      await first;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(up.stats.total, 1, 'only the first call was sent');
    });

    test('aborting a call in flight ends it with an AbortError; the connection serves the next call', async () => {
      up.reset();
      up.setLatency(300);
      const c = client(1);
      const ac = new AbortController();
      const call = c.postJson('/chat/completions', body('cut'), ac.signal, 'online');
      await new Promise((r) => setTimeout(r, 50));
      ac.abort(new Error('client went away'));
      await assert.rejects(call, (e: Error) => e.name === 'AbortError');
      up.setLatency(5);
      assert.equal((await c.postJson('/chat/completions', body('next'), never, 'online')).object, 'chat.completion');
    });

    test('an event stream is passed on event by event, and a non-2xx answer keeps its status and body', async () => {
      up.reset();
      up.setLatency(5);
      const c = client(2);
      const events: Record<string, unknown>[] = [];
      const plain = await c.postEventStream('/chat/completions', { ...body('one two three'), stream: true }, never, (e) => events.push(e));
      assert.equal(plain, null);
      assert.ok(events.length >= 3, `${events.length} events`);
      up.setBehaviour({ latencyMs: 5, rules: [{ marker: 'refuse', fault: { kind: 'status', status: 400 } }] });
      await assert.rejects(
        c.postEventStream('/chat/completions', { ...body('refuse'), stream: true }, never, () => undefined),
        (e: EngineError) => {
          assert.equal(e.statusCode, 400);
          assert.equal(e.retryable, false);
          return true;
        },
      );
      up.setBehaviour({ latencyMs: 5, rules: [] });
    });

    test('a connection refused is a retryable network error', async () => {
      const dead = new UpstreamClient({ baseUrl: 'http://127.0.0.1:9/v1', connections: 1, requestTimeoutMs: 5000, ioThread });
      clients.push(dead);
      await assert.rejects(dead.postJson('/chat/completions', body('x'), never, 'batch'), (e: EngineError) => {
        assert.equal(e.code, 'upstream_unreachable');
        assert.equal(e.retryable, true);
        assert.match(e.message, /ECONNREFUSED/);
        return true;
      });
    });
  });
}

describe('slots shared by the main thread and the I/O thread', () => {
  test('take and give count both threads together; reclaim frees only what the I/O thread held', () => {
    const { slots: main, buffer } = UpstreamSlots.shared(4);
    const thread = new UpstreamSlots(4, buffer, true);
    assert.deepEqual([thread.take(), thread.take(), thread.take(), main.take()], [true, true, true, true]);
    assert.equal(main.take(), false, 'four of four taken between them');
    assert.equal(thread.take(), false);
    thread.give();
    assert.equal(main.take(), true, 'a slot the thread gave back serves the main thread');
    // The thread dies holding two: they come back, the main thread's two stay taken.
    main.reclaim();
    assert.deepEqual([main.take(), main.take(), main.take()], [true, true, false]);
    main.give();
    main.give();
    main.give();
    main.give();
    assert.deepEqual([main.take(), main.take(), main.take(), main.take(), main.take()], [true, true, true, true, false]);
  });
});

describe('the upstream I/O thread dying', () => {
  test('its calls fail as retryable network errors, the slots it held are free again, and the next call starts a new thread', async () => {
    const up = await startFakeUpstream({ latencyMs: 300 });
    const thread = new IoThread();
    try {
      const { slots, buffer } = UpstreamSlots.shared(2);
      const url = new URL(up.url);
      const pool = thread.pool({ id: 'dying', origin: url.origin, connections: 2, socketTimeoutMs: 10_000, slots: buffer });
      type Outcome = { ok: true; text: string } | { ok: false; err: WireError };
      const call = (name: string) =>
        new Promise<Outcome>((resolve) =>
          pool.call(
            {
              path: `${url.pathname.replace(/\/$/, '')}/chat/completions`,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body(name)),
              timeoutMs: 5000,
              online: false,
              stream: false,
            },
            { head: () => undefined, data: () => undefined, end: (text) => resolve({ ok: true, text }), error: (err) => resolve({ ok: false, err }) },
          ),
        );
      const running = [call('a'), call('b')];
      while (up.stats.inFlight < 2) await new Promise((r) => setTimeout(r, 5));
      assert.equal(slots.take(), false, 'the thread holds both slots');
      await thread.terminate();
      for (const outcome of await Promise.all(running)) {
        assert.equal(outcome.ok, false);
        if (!outcome.ok) {
          assert.equal(outcome.err.code, 'EIOTHREAD');
          const e = networkError(outcome.err);
          assert.deepEqual([e.code, e.retryable], ['upstream_unreachable', true]);
        }
      }
      assert.deepEqual([slots.take(), slots.take(), slots.take()], [true, true, false], 'both slots free again');
      slots.give();
      slots.give();
      up.setLatency(5);
      const next = await call('c');
      assert.equal(next.ok, true, 'a new thread answers');
    } finally {
      await thread.terminate();
      await up.close();
    }
  });
});
