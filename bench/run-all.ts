/** Runs every benchmark (pass --quick for CI's short mode) and indexes the results in bench/results/README.md. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RESULTS_DIR, quick } from './lib/report.js';

const BENCHES = [
  ['ingest', 'Ingest: upload + validate vs readline + JSON.parse'],
  ['upstream', 'Upstream path: batch throughput vs a direct load generator'],
  ['coordination', 'Coordination cost: records/s on SQLite and PostgreSQL'],
  ['scaling', 'Scaling: 4 workers vs 1 on PostgreSQL'],
  ['claim', 'Claim cost against job size'],
  ['overhead', 'Overhead per request: CPU time and added online latency'],
  ['embedded', 'Embedded engine vs node-llama-cpp direct'],
  ['prefix-reuse', 'Shared-prefix reuse on the embedded engine'],
  ['online-latency', 'Online latency added by a running batch, online reserve on vs off'],
] as const;

/** Pages written by runs of their own (a flag, another machine), kept in the index when present. */
const OTHER_PAGES = [
  ['upstream-profile', "Upstream path: where batchd's CPU time goes (`bench/upstream.ts --profile`)"],
  ['gpu', 'Embedded engine on the best backend (`bench/gpu.ts`)'],
  ['queue-refactor', 'The queue refactor (issue 12): quick runs before and after'],
] as const;

let failed = 0;
for (const [name] of BENCHES) {
  console.log(`\n=== bench/${name}.ts ${quick ? '(quick)' : ''}`);
  const res = spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', `${name}.ts`), ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
  if (res.status !== 0) failed++;
}
const index = ['# Benchmark results', '', 'Written by `npm run bench` (full) or `npm run bench -- --quick`; each file records its own run date and mode.', ''];
for (const [name, title] of [...BENCHES, ...OTHER_PAGES]) {
  if (fs.existsSync(path.join(RESULTS_DIR, `${name}.md`))) index.push(`- [${title}](${name}.md)`);
}
fs.writeFileSync(path.join(RESULTS_DIR, 'README.md'), `${index.join('\n')}\n`);
process.exit(failed ? 1 : 0);
