/**
 * The direct load generator in a process of its own: `node --import tsx
 * bench/lib/load-generator.ts <url> <requests> <concurrency> [warm-up]` sends `requests`
 * chat calls (the same bodies batchd sends for a file from writeChatFile) over an undici
 * pool of `concurrency` connections, each connection's loop starting the next call as soon
 * as its answer is read, and prints `{"ms": …}` for the whole run. `warm-up` calls are
 * made the same way first, untimed (the bench warms batchd's server the same way).
 */
import { Pool } from 'undici';

const [url, requests, concurrency, warmup] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5] ?? 0)];
const target = new URL(url);
const pool = new Pool(target.origin, { connections: concurrency });
const path = `${target.pathname.replace(/\/$/, '')}/chat/completions`;

/** `n` calls over the pool, `concurrency` at a time. */
async function run(n: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
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
}

await run(warmup);
const start = performance.now();
await run(requests);
const ms = performance.now() - start;
await pool.close();
console.log(JSON.stringify({ ms }));
