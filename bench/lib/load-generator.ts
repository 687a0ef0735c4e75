/**
 * The direct load generator in a process of its own: `node --import tsx
 * bench/lib/load-generator.ts <url> <requests> <concurrency>` sends `requests` chat calls
 * (the same bodies batchd sends for a file from writeChatFile) over an undici pool of
 * `concurrency` connections, each connection's loop starting the next call as soon as its
 * answer is read, and prints `{"ms": …}` for the whole run.
 */
import { Pool } from 'undici';

const [url, requests, concurrency] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const target = new URL(url);
const pool = new Pool(target.origin, { connections: concurrency });
const path = `${target.pathname.replace(/\/$/, '')}/chat/completions`;
let next = 0;
const start = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < requests) {
      const i = next++;
      const res = await pool.request({
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: `request number ${i}` }] }),
      });
      if (res.statusCode !== 200) throw new Error(`call ${i}: HTTP ${res.statusCode}`);
      await res.body.json();
    }
  }),
);
const ms = performance.now() - start;
await pool.close();
console.log(JSON.stringify({ ms }));
