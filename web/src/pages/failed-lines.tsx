import { useEffect, useState } from 'preact/hooks';
import type { Api } from '../api';
import { ErrorNote } from '../components';
import { bytes, count } from '../format';
import type { Job } from '../types';

/** Only the head of the error file is read: enough for samples, bounded whatever the job's size. */
const HEAD_BYTES = 256 * 1024;
const SAMPLES_PER_CODE = 3;

interface Group {
  code: string;
  status: number | null;
  count: number;
  samples: { customId: string; message: string }[];
}

/** Error-file lines grouped by `error.code` (Mistral's error line: custom_id, response.status_code, error {message, code}). */
function groupLines(lines: string[]): { groups: Group[]; unreadable: number } {
  const byCode = new Map<string, Group>();
  let unreadable = 0;
  for (const line of lines) {
    let parsed: { custom_id?: unknown; response?: { status_code?: unknown } | null; error?: { code?: unknown; message?: unknown } | null };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      unreadable++;
      continue;
    }
    const status = typeof parsed.response?.status_code === 'number' ? parsed.response.status_code : null;
    const code = typeof parsed.error?.code === 'string' ? parsed.error.code : status !== null ? `http_${status}` : 'unknown';
    const g = byCode.get(code) ?? { code, status, count: 0, samples: [] };
    g.count++;
    if (g.samples.length < SAMPLES_PER_CODE) {
      g.samples.push({
        customId: String(parsed.custom_id ?? '—'),
        message: typeof parsed.error?.message === 'string' ? parsed.error.message : line.slice(0, 300),
      });
    }
    byCode.set(code, g);
  }
  return { groups: [...byCode.values()].sort((a, b) => b.count - a.count), unreadable };
}

export function FailedLines({ api, job }: { api: Api; job: Job }) {
  const [head, setHead] = useState<{ lines: string[]; complete: boolean } | undefined>();
  const [error, setError] = useState<Error | undefined>();
  // Read again when more lines have failed, at most once per change of the failed count.
  const key = `${job.error_file}:${job.failed_requests}`;
  useEffect(() => {
    if (!job.error_file) return;
    let live = true;
    api.fileHead(job.error_file, HEAD_BYTES).then(
      (h) => live && (setHead(h), setError(undefined)),
      (err: Error) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [api, key]);

  const grouped = head ? groupLines(head.lines) : undefined;
  return (
    <div class="card" aria-labelledby="failed-title">
      <h2 id="failed-title">Failed lines ({count(job.failed_requests)})</h2>
      <ErrorNote error={error} />
      {!grouped ? (
        <p class="muted">{job.error_file ? 'Reading the error file…' : 'The error file appears when the first failed line is recorded.'}</p>
      ) : (
        <>
          <p class="muted small">
            {head!.complete
              ? `Grouped from all ${count(head!.lines.length)} lines of the error file.`
              : `Grouped from the first ${count(head!.lines.length)} lines (${bytes(HEAD_BYTES)}) of the error file; download it for all of them.`}
            {grouped.unreadable ? ` ${grouped.unreadable} line(s) were not JSON.` : ''}
          </p>
          <table class="errors-table">
            <thead>
              <tr>
                <th scope="col">Error code</th>
                <th scope="col">Status</th>
                <th scope="col">Lines</th>
                <th scope="col">Sample lines (custom_id: message)</th>
              </tr>
            </thead>
            <tbody>
              {grouped.groups.map((g) => (
                <tr key={g.code}>
                  <th scope="row" class="mono">
                    {g.code}
                  </th>
                  <td>{g.status ?? '—'}</td>
                  <td>{count(g.count)}</td>
                  <td>
                    <ul class="samples">
                      {g.samples.map((s, i) => (
                        <li key={i}>
                          <span class="mono">{s.customId}</span>: {s.message}
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
