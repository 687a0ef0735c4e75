import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSse, type SseEvent } from '../../src/cli/sse.js';

async function parse(chunks: string[]): Promise<SseEvent[]> {
  async function* body() {
    for (const c of chunks) yield new TextEncoder().encode(c);
  }
  const out: SseEvent[] = [];
  for await (const e of readSse(body())) out.push(e);
  return out;
}

test('events split anywhere across chunks, CRLF or LF, comments skipped, data lines joined', async () => {
  const stream = ': ping\n\nevent: job\ndata: {"a":1}\n\r\nevent: job\r\ndata: line1\r\ndata:line2\r\n\r\ndata: plain\n\n';
  const expected = [
    { event: 'job', data: '{"a":1}' },
    { event: 'job', data: 'line1\nline2' },
    { event: 'message', data: 'plain' },
  ];
  assert.deepEqual(await parse([stream]), expected);
  // Every split point, including inside a CRLF and inside a multi-byte character's neighbours.
  for (let i = 1; i < stream.length; i++) assert.deepEqual(await parse([stream.slice(0, i), stream.slice(i)]), expected, `split at ${i}`);
  assert.deepEqual(await parse(stream.split('')), expected);
});

test('an event without its closing blank line (a cut stream) is not delivered', async () => {
  assert.deepEqual(await parse(['event: job\ndata: {"a":1}\n']), []);
});

test('multi-byte characters split between chunks are decoded whole', async () => {
  const bytes = new TextEncoder().encode('data: é€😀\n\n');
  async function* body() {
    for (const b of bytes) yield new Uint8Array([b]);
  }
  const out: SseEvent[] = [];
  for await (const e of readSse(body())) out.push(e);
  assert.deepEqual(out, [{ event: 'message', data: 'é€😀' }]);
});
