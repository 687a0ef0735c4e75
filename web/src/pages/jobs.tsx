import { useState } from 'preact/hooks';
import type { Api } from '../api';
import { DataTable, ErrorNote, Metadata, ProgressBar, StatusBadge } from '../components';
import { count, duration, jobDuration, shortDateTime } from '../format';
import { navigate, useNow, usePoll } from '../hooks';
import { JOB_STATUSES, type Job } from '../types';

/** Every job of the workspace (whatever API created it), newest first, polled every 2 s. */
export function JobsPage({ api }: { api: Api }) {
  const [status, setStatus] = useState('');
  const [model, setModel] = useState('');
  const jobs = usePoll(() => api.jobs({ status, model }), 2000, [api, status, model]);
  const models = usePoll(() => api.models(), 60_000, [api]);
  const now = useNow();

  const modelIds = [...new Set([...(models.data?.data.map((m) => m.id) ?? []), ...(jobs.data?.data.flatMap((j) => j.model ?? []) ?? [])])].sort();

  return (
    <section aria-labelledby="jobs-title">
      <div class="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <a class="button button-primary" href="#/new">
          New job
        </a>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">All statuses</option>
            {JOB_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <select value={model} onChange={(e) => setModel((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">All models</option>
            {modelIds.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <span class="muted small" aria-live="polite">
          {jobs.data ? `${count(jobs.data.total)} job${jobs.data.total === 1 ? '' : 's'} · updates every 2 s` : 'Loading…'}
        </span>
      </form>
      <ErrorNote error={jobs.error} />
      {jobs.data && jobs.data.data.length === 0 ? (
        <p class="empty">
          No jobs {status || model ? 'match these filters' : 'yet'}. <a href="#/files">Upload a file</a>, then <a href="#/new">create a job</a>.
        </p>
      ) : null}
      {jobs.data && jobs.data.data.length > 0 ? <JobsTable jobs={jobs.data.data} now={now} /> : null}
    </section>
  );
}

function JobsTable({ jobs, now }: { jobs: Job[]; now: number }) {
  return (
    <DataTable columns={['Job', 'Status', 'Model', 'Endpoint', 'Progress', 'Counts', 'Created', 'Duration', 'Metadata']} class="jobs-table">
      {jobs.map((j) => (
        <tr key={j.id} class="clickable" data-job-id={j.id} onClick={(e) => (e.target as HTMLElement).closest('a,button') || navigate(`/jobs/${j.id}`)}>
          <th scope="row">
            <a href={`#/jobs/${j.id}`} class="mono" title={j.id}>
              {j.id.slice(0, 8)}
            </a>
          </th>
          <td>
            <StatusBadge status={j.status} />
          </td>
          <td class="nowrap">{j.model ?? j.agent_id}</td>
          <td class="mono small">{j.endpoint}</td>
          <td class="progress-cell">
            <ProgressBar job={j} label={`Progress of job ${j.id.slice(0, 8)}`} />
          </td>
          <td>
            <div class="counts">
              <span>
                {count(j.completed_requests)}/{count(j.total_requests)}
                <span class="visually-hidden"> done,</span>
              </span>
              <span class="ok" title="succeeded">
                <span aria-hidden="true">✓</span> {count(j.succeeded_requests)}
                <span class="visually-hidden"> succeeded,</span>
              </span>
              <span class={j.failed_requests ? 'bad' : 'muted'} title="failed">
                <span aria-hidden="true">✗</span> {count(j.failed_requests)}
                <span class="visually-hidden"> failed</span>
              </span>
            </div>
          </td>
          <td class="nowrap">{shortDateTime(j.created_at)}</td>
          <td class="nowrap">{duration(jobDuration(j, now))}</td>
          <td>
            <Metadata metadata={j.metadata} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
