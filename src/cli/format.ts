import Table from 'cli-table3';

/** No rule between rows: lists stay one line per item. */
const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** A plain table (no colours: it may go to a file or a pipe as well as a terminal). */
export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, chars: COMPACT, style: { head: [], border: [] } });
  t.push(...rows.map((r) => r.map(String)));
  return t.toString();
}

/** A two-column field/value table for one object; long values (error messages) wrap to the terminal's width. */
export function fieldTable(fields: [string, string | number][]): string {
  const valueWidth = Math.max(40, Math.min(100, (process.stdout.columns || 100) - 21));
  const t = new Table({ chars: COMPACT, style: { head: [], border: [] }, colWidths: [17, valueWidth], wordWrap: true });
  for (const [k, v] of fields) t.push({ [k]: String(v) });
  return t.toString();
}

export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Seconds as "1h 02m", "3m 05s", "42s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Unix seconds as "2026-11-28 20:31:52" (UTC, as the API's timestamps are). */
export function timestamp(unixSeconds: number | null | undefined): string {
  if (unixSeconds === null || unixSeconds === undefined) return '-';
  return new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** "1 line", "2 lines". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function percent(done: number, total: number): string {
  return total > 0 ? `${Math.floor((done / total) * 100)}%` : '-';
}

export function metadataText(metadata: Record<string, string> | null | undefined): string {
  if (!metadata) return '';
  return Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** JSON for scripts: the API's own objects, indented, one document per command. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
