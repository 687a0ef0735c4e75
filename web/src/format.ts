/** Display helpers: numbers, sizes, times and durations as the pages show them. */

const integer = new Intl.NumberFormat('en-US');

export const count = (n: number) => integer.format(n);

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) ((v /= 1024), i++);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function dateTime(unixSeconds: number | null): string {
  if (unixSeconds === null) return '—';
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** 3 s, 4 min 05 s, 2 h 03 min: short, and exact enough to compare runs. */
export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** A job's running time: start to end, or to now while it runs. */
export function jobDuration(job: { started_at: number | null; completed_at: number | null }, nowSeconds: number): number | null {
  if (job.started_at === null) return null;
  return (job.completed_at ?? nowSeconds) - job.started_at;
}

export const rate = (perSecond: number | null) => (perSecond === null ? '—' : `${perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(1)} lines/s`);

export const usd = (v: number) => `$${v < 0.01 && v > 0 ? v.toFixed(6) : v.toFixed(2)}`;

export const percent = (done: number, total: number) => (total > 0 ? Math.floor((done / total) * 100) : 0);

/** For tables: month, day and time; the year only when it is not this one. */
export function shortDateTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const thisYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, {
    ...(thisYear ? {} : { year: 'numeric' }),
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
