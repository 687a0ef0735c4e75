/**
 * Preload for a benchmark's batchd process (`node --import <this file> bin/batchd.js …`;
 * plain JavaScript, since it loads before batchd registers tsx): measures how late the
 * event loop runs a timer (perf_hooks.monitorEventLoopDelay, 1 ms resolution), which is
 * what every online call's I/O waits for behind other work in the process. The first
 * SIGUSR2 starts a measurement; the next writes `{"p50", "p99", "max", "n"}` to the file
 * named by BATCHD_LOOP_DELAY_FILE and starts another: how many ms late the sampling timer
 * ran beyond its 1 ms period (the timer itself costs the process a wakeup per millisecond).
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 1;
const file = process.env.BATCHD_LOOP_DELAY_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  let started = false;
  process.on('SIGUSR2', () => {
    if (started) {
      const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
      const summary = { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), n: histogram.count };
      fs.writeFileSync(file, JSON.stringify(summary));
    }
    started = true;
    histogram.reset();
    histogram.enable();
  });
}
