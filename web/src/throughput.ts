/** A running count sampled over time, turned into a recent rate: the job page's and the models page's throughput. */
export interface Sample {
  t: number; // seconds since the epoch
  done: number;
}

/** Lines per second over the last `windowS` seconds of samples; null until two samples span some time. */
export function recentRate(samples: Sample[], windowS: number): number | null {
  const last = samples.at(-1);
  if (!last) return null;
  const first = samples.find((s) => s.t >= last.t - windowS) ?? samples[0]!;
  const dt = last.t - first.t;
  return dt > 0.2 ? Math.max(0, (last.done - first.done) / dt) : null;
}

/** The throughput series for a chart: at each sample, the rate over the preceding `windowS` seconds. */
export function rateSeries(samples: Sample[], windowS: number): { times: number[]; rates: number[] } {
  const times: number[] = [];
  const rates: number[] = [];
  let from = 0;
  for (let i = 1; i < samples.length; i++) {
    const s = samples[i]!;
    while (from < i - 1 && samples[from + 1]!.t <= s.t - windowS) from++;
    const dt = s.t - samples[from]!.t;
    if (dt <= 0) continue;
    times.push(s.t);
    rates.push(Math.max(0, (s.done - samples[from]!.done) / dt));
  }
  return { times, rates };
}
