import type { ComponentChildren } from 'preact';
import type { Job, JobStatus } from './types';
import { percent } from './format';

const STATUS_TONE: Record<JobStatus, string> = {
  QUEUED: 'neutral',
  RUNNING: 'info',
  SUCCESS: 'good',
  FAILED: 'bad',
  TIMEOUT_EXCEEDED: 'bad',
  CANCELLATION_REQUESTED: 'warn',
  CANCELLED: 'warn',
};

export function StatusBadge({ status }: { status: JobStatus }) {
  return <span class={`badge badge-${STATUS_TONE[status] ?? 'neutral'}`}>{status.replace(/_/g, ' ')}</span>;
}

/** A job's progress: succeeded and failed lines as two segments of one bar, with its percentage as text. */
export function ProgressBar({
  job,
  label,
}: {
  job: Pick<Job, 'completed_requests' | 'total_requests' | 'succeeded_requests' | 'failed_requests'>;
  label: string;
}) {
  const total = job.total_requests;
  const pct = percent(job.completed_requests, total);
  const ok = total > 0 ? (job.succeeded_requests / total) * 100 : 0;
  const bad = total > 0 ? (job.failed_requests / total) * 100 : 0;
  return (
    <div class="progress">
      <div class="progress-track" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-valuetext={`${pct}%`}>
        <div class="progress-ok" style={{ width: `${ok}%` }} />
        <div class="progress-bad" style={{ width: `${bad}%` }} />
      </div>
      <span class="progress-text">{pct}%</span>
    </div>
  );
}

export function ErrorNote({ error, children }: { error?: Error | string; children?: ComponentChildren }) {
  if (!error && !children) return null;
  return (
    <div class="note note-error" role="alert">
      {typeof error === 'string' ? error : error?.message}
      {children}
    </div>
  );
}

export function Metadata({ metadata }: { metadata: Record<string, string> | null }) {
  const entries = Object.entries(metadata ?? {});
  if (entries.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="chips">
      {entries.map(([k, v]) => (
        <li key={k} class="chip">
          {k}={v}
        </li>
      ))}
    </ul>
  );
}

/** A button that runs an async action, shows that it is busy, and reports its failure beside it. */
export function ActionButton({
  onClick,
  children,
  kind = 'secondary',
  disabled,
}: {
  onClick: () => Promise<unknown>;
  children: ComponentChildren;
  kind?: 'primary' | 'secondary' | 'danger';
  disabled?: boolean;
}) {
  return (
    <button
      type="button"
      class={`button button-${kind}`}
      disabled={disabled}
      onClick={async (e) => {
        const b = e.currentTarget as HTMLButtonElement;
        b.disabled = true;
        b.setAttribute('aria-busy', 'true');
        try {
          await onClick();
        } finally {
          b.disabled = false;
          b.removeAttribute('aria-busy');
        }
      }}
    >
      {children}
    </button>
  );
}

/**
 * A list page's table, scrolling sideways on a narrow screen: a header row of `columns`
 * (column headers for screen readers), then the rows the page renders.
 */
export function DataTable({ columns, class: cls, children }: { columns: string[]; class?: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table class={cls}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
