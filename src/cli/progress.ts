import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { FileObject, JobObject } from './api-types.js';
import type { BatchdClient } from './client.js';
import { bytes, duration } from './format.js';
import { isTerminal } from '../queue/states.js';

/**
 * Progress goes to stderr, so stdout carries only results (a table, a summary, `--json`)
 * and can be piped. It is a live bar (cli-progress) when both stdout and stderr are
 * terminals; otherwise plain lines, one per change and at most one a second, and the
 * final state at once, so a log or CI output shows the whole run without redraws.
 */
export function isInteractive(): boolean {
  return Boolean(process.stdout.isTTY && process.stderr.isTTY);
}

/** What one progress update shows. */
interface View {
  value: number;
  total: number;
  /** Named values for the bar's format. */
  payload: Record<string, string | number>;
  /** The same state as a plain line. */
  line: string;
  /** Two updates with the same key are the same state (no new line). */
  key: string;
}

const MIN_LINE_INTERVAL_MS = 1000;

/**
 * The bar takes what the terminal has beyond ~70 columns of text, 10 to 40 characters:
 * cli-progress crops a line wider than the terminal, and the counts and ETA at its end
 * matter more than the bar.
 */
const barWidth = () => Math.max(10, Math.min(40, (process.stderr.columns || 80) - 70));

class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private lastKey: string | null = null;
  private lastLineAt = 0;
  private pending: View | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly interactive: boolean,
    private readonly format: string,
  ) {}

  show(view: View, final = false): void {
    if (this.interactive) return this.draw(view);
    if (view.key === this.lastKey) {
      // Back to the state last printed: nothing new to say.
      this.pending = null;
      return;
    }
    this.pending = view;
    const wait = this.lastLineAt + MIN_LINE_INTERVAL_MS - Date.now();
    if (final || wait <= 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), wait);
  }

  private draw(view: View): void {
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        { format: this.format, stream: process.stderr, hideCursor: true, emptyOnZero: true, barsize: barWidth(), fps: 10 },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(view.total, view.value, view.payload);
      return;
    }
    this.bar.setTotal(view.total);
    this.bar.update(view.value, view.payload);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const view = this.pending;
    this.pending = null;
    if (!view || view.key === this.lastKey) return;
    this.lastKey = view.key;
    this.lastLineAt = Date.now();
    process.stderr.write(`${view.line}\n`);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending) this.flush();
    this.bar?.stop();
    this.bar = null;
  }
}

/**
 * Rate over the last ten seconds of samples (since the first sample while younger), so
 * requests/s and the ETA follow the current pace rather than the job's lifetime average.
 */
export class RateMeter {
  private samples: { at: number; value: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}

  add(value: number, at = Date.now()): void {
    this.samples.push({ at, value });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
  }

  /** Units per second, or null before there is a measurable interval. */
  rate(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 500) return null;
    return (last.value - first.value) / ((last.at - first.at) / 1000);
  }

  /** Seconds to reach `total` at the current rate, or null when unknown. */
  eta(total: number): number | null {
    const rate = this.rate();
    const last = this.samples[this.samples.length - 1];
    if (!rate || rate <= 0 || !last) return null;
    return Math.max(0, (total - last.value) / rate);
  }
}

const etaText = (s: number | null) => (s === null ? '-' : duration(s));

/** The upload's byte progress: a bar or lines "uploading x.jsonl: 1.2 MB of 5.0 MB (24%)". */
export function byteProgress(label: string, total: number, interactive = isInteractive()) {
  const progress = new Progress(interactive, `${label} {bar} {percentage}% | {sent} of {size} | {speed}/s | ETA {remaining}`);
  const meter = new RateMeter();
  return {
    update(sent: number, final = false) {
      meter.add(sent);
      const pct = total > 0 ? Math.floor((sent / total) * 100) : 100;
      const speed = meter.rate();
      progress.show(
        {
          value: sent,
          total,
          payload: { sent: bytes(sent), size: bytes(total), speed: speed === null ? '-' : bytes(Math.round(speed)), remaining: etaText(meter.eta(total)) },
          line: `${label}: ${bytes(sent)} of ${bytes(total)} (${pct}%)`,
          key: String(pct),
        },
        final,
      );
    },
    stop: () => progress.stop(),
  };
}

/** Uploads a file with its byte progress shown, and returns the server's file object. */
export async function uploadWithProgress(client: BatchdClient, file: string, purpose: string): Promise<FileObject> {
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  const progress = byteProgress(`uploading ${path.basename(file)}`, size);
  try {
    return await client.uploadFile(file, purpose, (sent) => progress.update(sent, sent === size));
  } finally {
    progress.stop();
  }
}

/**
 * A job's live progress: done/total, succeeded, failed, requests/s and ETA, as a bar
 * "RUNNING ██████░░░░ 40% | 40/100 | ok 38 | failed 2 | 3.1 req/s | ETA 19s" or as lines
 * "job 1b2c3d4e RUNNING 40/100 (40%) succeeded 38 failed 2 | 3.1 req/s | ETA 19s".
 */
export function jobProgress(interactive = isInteractive()) {
  const progress = new Progress(
    interactive,
    '{status} {bar} {percentage}% | {value}/{total} | ok {succeeded} | failed {failed} | {rate} req/s | ETA {remaining}',
  );
  const meter = new RateMeter();
  return {
    update(job: JobObject) {
      const done = job.completed_requests;
      meter.add(done);
      const rate = meter.rate();
      const final = isTerminal(job.status);
      const rateText = rate === null ? '-' : rate.toFixed(1);
      const remaining = final ? '0s' : etaText(meter.eta(job.total_requests));
      const pct = job.total_requests > 0 ? `${Math.floor((done / job.total_requests) * 100)}%` : '-';
      const job8 = job.id.slice(0, 8);
      progress.show(
        {
          value: done,
          total: job.total_requests,
          payload: { status: job.status, succeeded: job.succeeded_requests, failed: job.failed_requests, rate: rateText, remaining },
          line:
            `job ${job8} ${job.status} ${done}/${job.total_requests} (${pct}) succeeded ${job.succeeded_requests} failed ${job.failed_requests}` +
            ` | ${rateText} req/s | ETA ${remaining}`,
          key: `${job.status} ${done} ${job.total_requests} ${job.succeeded_requests} ${job.failed_requests}`,
        },
        final,
      );
    },
    stop: () => progress.stop(),
  };
}
