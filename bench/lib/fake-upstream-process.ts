/**
 * The fake upstream in a process of its own, so that neither side of a comparison shares
 * an event loop with it: `node --import tsx bench/lib/fake-upstream-process.ts <latencyMs>
 * <maxConcurrent>` prints `fake upstream listening on <url>` and serves until SIGTERM or
 * until its parent closes stdin.
 */
import { startFakeUpstream } from '../../test/helpers/fake-upstream.js';

const [latencyMs, maxConcurrent] = process.argv.slice(2).map(Number);
const up = await startFakeUpstream({ latencyMs, maxConcurrent, record: false });
console.log(`fake upstream listening on ${up.url}`);
const stop = () => void up.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
