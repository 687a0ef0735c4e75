import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');

export const quick = process.argv.includes('--quick') || process.env.BATCHD_BENCH_QUICK === '1';

/** Writes a benchmark's markdown section to bench/results/<name>.md and echoes it. */
export function writeReport(name: string, title: string, lines: string[]) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const text = [
    `# ${title}`,
    '',
    `Run ${new Date().toISOString()} on ${process.platform}/${process.arch}, Node ${process.version}, ${quick ? 'quick mode' : 'full mode'}.`,
    '',
    ...lines,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(RESULTS_DIR, `${name}.md`), text);
  console.log(text);
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident set size of a process (VmHWM), in MB. */
export function peakRssMb(pid: number = process.pid): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
