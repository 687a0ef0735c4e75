import { parentPort } from 'node:worker_threads';
import type { Pool } from 'undici';
import { CallQueue, newPool, UpstreamSlots, type CallEvents, type CallHandle, type CallRequest, type PoolSpec } from './upstream-call.js';
import type { FromIoThread, ToIoThread } from './io-thread.js';

/**
 * The upstream I/O thread (see io-thread.ts): runs the calls the main thread hands over,
 * on one keep-alive pool per upstream client, and reports what they read in one message
 * per turn of its event loop. A `kick` says the main thread gave one of a pool's slots
 * back (an online call of its own ended): calls waiting here may go.
 */
const port = parentPort!;
const pools = new Map<string, { pool: Pool; queue: CallQueue }>();
const calls = new Map<number, CallHandle>();
let outbox: FromIoThread[] = [];

// What one turn's I/O read goes back together once that turn is done: a message per
// answer would cost the main thread more than the answers themselves.
function post(m: FromIoThread) {
  if (outbox.length === 0) setImmediate(flush);
  outbox.push(m);
}

function flush() {
  const batch = outbox;
  outbox = [];
  port.postMessage(batch);
}

function addPool(spec: PoolSpec) {
  if (pools.has(spec.id)) return;
  const pool = newPool(spec);
  pools.set(spec.id, { pool, queue: new CallQueue(pool, spec.origin, new UpstreamSlots(spec.connections, spec.slots, true)) });
}

function start(id: number, poolId: string, spec: CallRequest) {
  const p = pools.get(poolId);
  // Every pool is described before its first call; none here means its client was closed meanwhile.
  if (!p) return post({ id, t: 'error', err: { message: `upstream I/O thread has no pool ${poolId}`, code: 'EIOTHREAD', timedOut: false } });
  let settled = false;
  const settle = (m: FromIoThread) => {
    settled = true;
    calls.delete(id);
    post(m);
  };
  const events: CallEvents = {
    head: (status, contentType, retryAfter) => post({ id, t: 'head', status, contentType, retryAfter }),
    data: (text) => post({ id, t: 'data', text }),
    end: (text) => settle({ id, t: 'end', text }),
    error: (err) => settle({ id, t: 'error', err }),
  };
  const handle = p.queue.call(spec, events);
  if (!settled) calls.set(id, handle);
}

port.on('message', (batch: ToIoThread[]) => {
  for (const m of batch) {
    if (m.t === 'call') start(m.id, m.pool, m.call);
    else if (m.t === 'pool') addPool(m.pool);
    else if (m.t === 'abort') calls.get(m.id)?.abort(m.message);
    else if (m.t === 'kick') pools.get(m.pool)?.queue.pump();
    else {
      const p = pools.get(m.pool);
      pools.delete(m.pool);
      void p?.pool.close();
    }
  }
});
