/**
 * Upstream path: batchd running a batch against a loopback OpenAI-compatible fake with a
 * fixed service time and a concurrency limit, against a direct load generator (a plain
 * undici loop) at the same concurrency. Three processes, so that no side shares an event
 * loop with the fake: the fake upstream (one process for the whole run), the load
 * generator (a process per round), and batchd (a fresh server and data dir per round).
 * The two sides alternate over ROUNDS rounds (baseline first in rounds 1 and 3, batchd
 * first in round 2); medians and the spread are reported. Target ratio ≥ 0.97.
 *
 * `--profile` instead runs batchd once under `--cpu-prof` and writes where its main
 * thread's CPU time went (self time by function and by file) to results/upstream-profile.md;
 * the profile itself is kept in the temporary directory for a closer look.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runJob, writeChatFile } from './lib/jobs.js';
import { runLoadGenerator, startBatchd, startFakeUpstreamProcess } from './lib/processes.js';
import { summariseProfile } from './lib/profile.js';
import { fmt, peakRssMb, quick, RESULTS_DIR, writeReport } from './lib/report.js';

const REQUESTS = quick ? 10_000 : 100_000;
/**
 * Calls each side makes untimed first, in the same process as its timed ones: batchd is a
 * server that runs for days, so its first seconds in a fresh process (the JIT compiling
 * its paths, measured at 60-75% of the steady rate) are not what a batch meets; the load
 * generator is warmed the same way, so neither side is timed cold.
 */
const WARMUP = quick ? 1_000 : 5_000;
const ROUNDS = 3;
const CONCURRENCY = 64;
const SERVICE_MS = 20;
const profile = process.argv.includes('--profile');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-bench-up-'));
const up = await startFakeUpstreamProcess(SERVICE_MS, CONCURRENCY);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/**
 * CPU time (user and system, all threads) a process has used so far, in ms (Linux): the
 * cost per line that, on a quiet machine, sets how far batchd falls behind the baseline.
 */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command's closing parenthesis start at field 3; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_S;
}

/**
 * One batchd round: a fresh server and data dir, one job of every line; requests/s from
 * creation to SUCCESS, and batchd's CPU time per line over the same span (upload included).
 */
async function batchd(input: string, warmup: string, round: number, nodeArgs: string[] = []): Promise<{ rate: number; rss: number; cpuPerLine: number }> {
  const data = path.join(dir, `data-${round}`);
  // From the sources, so the numbers are those of this tree, whatever dist/ holds.
  const server = await startBatchd(
    ['serve', '--port', '0', '--data-dir', data, '--config', path.join(dir, 'models.json')],
    // No online share held back (BATCHD_ONLINE_RESERVE): this run has no online calls, so the reserve would not be held anyway.
    {
      BATCHD_FROM_SOURCE: '1',
      BATCHD_API_KEYS: 'bench:bench',
      BATCHD_ONLINE_RESERVE: process.env.BATCHD_ONLINE_RESERVE ?? '0',
    },
    nodeArgs,
  );
  try {
    const warm = await runJob(server.url, 'bench', warmup, 'up');
    if (warm.job.status !== 'SUCCESS') throw new Error(`warm-up job ended ${JSON.stringify(warm.job)}`);
    const cpuBefore = cpuMs(server.proc.pid!);
    const { ms, job } = await runJob(server.url, 'bench', input, 'up');
    if (job.status !== 'SUCCESS' || job.succeeded_requests !== REQUESTS) throw new Error(`job ended ${JSON.stringify(job)}`);
    return { rate: REQUESTS / (ms / 1000), rss: peakRssMb(server.proc.pid!), cpuPerLine: (cpuMs(server.proc.pid!) - cpuBefore) / REQUESTS };
  } finally {
    await server.stop();
    fs.rmSync(data, { recursive: true, force: true });
  }
}

const baseline = async () => REQUESTS / ((await runLoadGenerator(up.url, REQUESTS, CONCURRENCY, WARMUP)) / 1000);

/** The previous run's summary line, carried into the new report so that two runs can be compared. */
function previousSummary(): string | null {
  const file = path.join(RESULTS_DIR, 'upstream.md');
  if (!fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8');
  const when = /^Run (\S+) .*?(quick|full) mode/m.exec(text);
  const line = /^\*\*Ratio of medians: .*$/m.exec(text);
  return when && line ? `Previous run (${when[1]}, ${when[2]} mode): ${line[0].replace(/\*\*/g, '')}` : null;
}

try {
  const input = path.join(dir, 'input.jsonl');
  writeChatFile(input, REQUESTS);
  const warmup = path.join(dir, 'warmup.jsonl');
  writeChatFile(warmup, WARMUP);
  fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: [{ id: 'up', engine: 'openai', url: up.url, max_in_flight: CONCURRENCY }] }));
  if (profile) {
    const profDir = path.join(os.tmpdir(), `batchd-upstream-profile-${Date.now()}`);
    const { rate } = await batchd(input, warmup, 0, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
    // One profile per thread; the main thread's is the largest.
    const [main] = fs
      .readdirSync(profDir)
      .map((f) => path.join(profDir, f))
      .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size);
    writeReport('upstream-profile', "Upstream path: where batchd's CPU time goes", [
      `One batchd run of ${fmt(REQUESTS)} requests under \`node --cpu-prof\` (main thread; the profiler slows it: ${fmt(rate)} requests/s), the whole process life from start to SIGTERM. Load average (1 min) ${fmt(os.loadavg()[0]!, 1)}. Profile: \`${main}\`.`,
      '',
      '```',
      summariseProfile(main!, 30),
      '```',
    ]);
  } else {
    await baseline(); // warm-up: page cache, the fake's JIT and sockets
    const loadBefore = os.loadavg()[0]!;
    const rates = { base: [] as number[], ours: [] as number[], cpu: [] as number[] };
    let rss = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const sides = [
        async () => rates.base.push(await baseline()),
        async () => {
          const b = await batchd(input, warmup, r);
          rates.ours.push(b.rate);
          rates.cpu.push(b.cpuPerLine);
          rss = Math.max(rss, b.rss);
        },
      ];
      for (const run of r % 2 === 0 ? sides : sides.reverse()) await run();
      console.log(
        `round ${r + 1}: baseline ${fmt(rates.base[r]!)}/s, batchd ${fmt(rates.ours[r]!)}/s, ratio ${fmt(rates.ours[r]! / rates.base[r]!, 3)}, batchd CPU ${fmt(rates.cpu[r]!, 3)} ms/line, load ${fmt(os.loadavg()[0]!, 1)}`,
      );
    }
    const ratios = rates.ours.map((o, i) => o / rates.base[i]!);
    const spread = (xs: number[], d = 0) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;
    const previous = previousSummary();
    const ideal = (CONCURRENCY * 1000) / SERVICE_MS;
    writeReport('upstream', 'Upstream path: batch throughput vs a direct load generator', [
      `${fmt(REQUESTS)} chat requests; fake upstream with ${SERVICE_MS} ms service time and at most ${CONCURRENCY} requests served at once (ideal ${fmt(ideal)}/s), in a process of its own for the whole run; batchd's model has max_in_flight ${CONCURRENCY}. Baseline: a plain undici loop at ${CONCURRENCY} concurrent calls, in a process of its own. batchd: a fresh server (SQLite, one process, from the sources; upstream calls on its I/O thread) and data dir per round, at its default settings but BATCHD_ONLINE_RESERVE=${process.env.BATCHD_ONLINE_RESERVE ?? '0'} (the share of max_in_flight kept for online calls while online calls come in; this run has none); its time runs from job creation to SUCCESS (admission, claiming, durable per-line records and the final fold). Each side first makes ${fmt(WARMUP)} calls untimed in the same process (batchd: a ${fmt(WARMUP)}-line job), so neither is timed while its JIT warms up. ${ROUNDS} rounds, the sides alternating (baseline first in rounds 1 and 3, batchd first in round 2).`,
      '',
      '| round | baseline requests/s | batchd requests/s | ratio | batchd CPU ms/line |',
      '|---|---|---|---|---|',
      ...ratios.map((q, i) => `| ${i + 1} | ${fmt(rates.base[i]!)} | ${fmt(rates.ours[i]!)} | ${fmt(q, 3)} | ${fmt(rates.cpu[i]!, 3)} |`),
      `| **median** | **${fmt(median(rates.base))}** | **${fmt(median(rates.ours))}** | **${fmt(median(ratios), 3)}** | **${fmt(median(rates.cpu), 3)}** |`,
      `| spread (min–max) | ${spread(rates.base)} | ${spread(rates.ours)} | ${spread(ratios, 3)} | ${spread(rates.cpu, 3)} |`,
      '',
      `**Ratio of medians: ${fmt(median(rates.ours) / median(rates.base), 3)}** (per-round ratios ${spread(ratios, 3)}; target ≥ 0.97). batchd server peak RSS: ${rss} MB; bench process ${peakRssMb()} MB. Load average (1 min) ${fmt(loadBefore, 1)} at the start, ${fmt(os.loadavg()[0]!, 1)} at the end, on ${os.availableParallelism()} cores.`,
      ...(previous ? ['', previous] : []),
    ]);
  }
} finally {
  await up.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
