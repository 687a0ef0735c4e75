import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api';
import { ActionButton, ErrorNote, Metadata, ProgressBar, StatusBadge } from '../components';
import { ThroughputChart } from '../chart';
import { count, dateTime, duration, jobDuration, rate, usd } from '../format';
import { navigate, useNow } from '../hooks';
import { rateSeries, recentRate, type Sample } from '../throughput';
import { answeredRequests, closedRequests, TERMINAL, type Job } from '../types';
import { FailedLines } from './failed-lines';
import { startDownload } from './download';

const isTerminal = (j: Job) => TERMINAL.includes(j.status);
/** Samples kept for the chart: an hour at one a second. */
const MAX_SAMPLES = 3600;

/** One job, live: its events stream (GET /v1/batch/jobs/{id}/events), reconnecting if it drops before the end. */
function useJobEvents(api: Api, id: string) {
  const [job, setJob] = useState<Job | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [state, setState] = useState<'connecting' | 'live' | 'reconnecting' | 'finished'>('connecting');
  const samples = useRef<Sample[]>([]);
  const [, setVersion] = useState(0);

  useEffect(() => {
    const ac = new AbortController();
    let last: Job | undefined;
    samples.current = [];
    const push = (done: number) => {
      samples.current.push({ t: Date.now() / 1000, done });
      if (samples.current.length > MAX_SAMPLES) samples.current.shift();
      setVersion((v) => v + 1);
    };
    // Between events (nothing changed) the rate is still measured once a second, so a stall shows as a fall.
    // Answered lines, not completed ones: a cancel or a timeout completes every open line at once, unanswered.
    const ticker = setInterval(() => {
      if (last?.status === 'RUNNING') push(answeredRequests(last));
    }, 1000);
    (async () => {
      while (!ac.signal.aborted) {
        try {
          await api.followJob(
            id,
            (j) => {
              last = j;
              setJob(j);
              setError(undefined);
              setState(isTerminal(j) ? 'finished' : 'live');
              if (j.status === 'RUNNING' || isTerminal(j)) push(answeredRequests(j));
            },
            ac.signal,
          );
          if (last && isTerminal(last)) return;
        } catch (err) {
          if (ac.signal.aborted) return;
          if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) return setError(err);
          setError(err as Error);
        }
        setState('reconnecting');
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    return () => {
      ac.abort();
      clearInterval(ticker);
    };
  }, [api, id]);
  return { job, error, state, samples: samples.current };
}

export function JobPage({ api, id }: { api: Api; id: string }) {
  const { job, error, state, samples } = useJobEvents(api, id);
  const now = useNow();
  const [actionError, setActionError] = useState<Error | undefined>();
  const series = useMemo(() => rateSeries(samples, 5), [samples.length, samples.at(-1)?.t]);

  if (!job) {
    return (
      <section>
        <p>
          <a href="#/jobs">← Jobs</a>
        </p>
        <h1>Job {id}</h1>
        {error ? <ErrorNote error={error} /> : <p class="muted">Loading…</p>}
      </section>
    );
  }

  const running = !isTerminal(job);
  const current = running ? recentRate(samples, 10) : null;
  const remaining = job.total_requests - job.completed_requests;
  const answered = answeredRequests(job);
  const closed = closedRequests(job);
  const elapsed = jobDuration(job, now);
  // Times are whole seconds: a job that ran within one has no meaningful average.
  const average = elapsed && elapsed >= 1 ? answered / elapsed : null;
  const eta = !running ? 'finished' : current && current > 0 ? duration(remaining / current) : job.status === 'QUEUED' ? 'waiting to start' : '—';
  const act = (fn: () => Promise<unknown>) => async () => {
    setActionError(undefined);
    try {
      await fn();
    } catch (err) {
      setActionError(err as Error);
    }
  };

  return (
    <section aria-labelledby="job-title">
      <p>
        <a href="#/jobs">← Jobs</a>
      </p>
      <div class="page-head">
        <h1 id="job-title">
          Job <span class="mono">{job.id}</span>
        </h1>
        <StatusBadge status={job.status} />
        <span class={`live live-${state}`} aria-live="polite">
          {state === 'live' ? 'live' : state === 'finished' ? 'final' : state}
        </span>
      </div>
      <div class="actions">
        {running ? (
          <ActionButton kind="danger" disabled={job.status === 'CANCELLATION_REQUESTED'} onClick={act(() => api.cancel(job.id))}>
            Cancel job
          </ActionButton>
        ) : null}
        {!running && job.failed_requests > 0 ? (
          <ActionButton
            kind="primary"
            onClick={act(async () => {
              const retry = await api.retry(job.id);
              navigate(`/jobs/${retry.id}`);
            })}
          >
            Retry failed lines ({count(job.failed_requests)})
          </ActionButton>
        ) : null}
        {job.output_file ? <ActionButton onClick={act(() => startDownload(api, job.output_file!))}>Download output</ActionButton> : null}
        {job.error_file ? <ActionButton onClick={act(() => startDownload(api, job.error_file!))}>Download errors</ActionButton> : null}
      </div>
      <ErrorNote error={actionError ?? (state === 'reconnecting' ? error : undefined)} />

      <div class="card">
        <ProgressBar job={job} label="Job progress" />
        <dl class="stats">
          <div>
            <dt>Completed</dt>
            <dd>
              {count(job.completed_requests)} / {count(job.total_requests)}
            </dd>
          </div>
          <div>
            <dt>Succeeded</dt>
            <dd class="ok">{count(job.succeeded_requests)}</dd>
          </div>
          <div>
            <dt>Failed</dt>
            <dd class={job.failed_requests ? 'bad' : ''}>{count(job.failed_requests)}</dd>
          </div>
          {closed > 0 ? (
            <div>
              <dt>Of these, never answered</dt>
              <dd class="muted">
                {count(closed)} ({job.status === 'TIMEOUT_EXCEEDED' ? 'timed out' : 'cancelled'})
              </dd>
            </div>
          ) : null}
          <div>
            <dt>Throughput</dt>
            <dd>{running ? rate(current) : average === null ? '—' : `${rate(average)} average`}</dd>
          </div>
          <div>
            <dt>ETA</dt>
            <dd>{eta}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{duration(elapsed)}</dd>
          </div>
        </dl>
      </div>

      <div class="grid-2">
        <div class="card">
          <h2>Throughput</h2>
          {series.times.length >= 2 ? (
            <ThroughputChart
              times={series.times}
              rates={series.rates}
              label={`Lines per second over time; now ${rate(current ?? series.rates.at(-1) ?? null)}`}
            />
          ) : (
            <p class="muted">
              {running
                ? 'Measuring… the chart starts once the job has made progress while this page is open.'
                : `This job ran before the page was opened: ${count(answered)} lines answered in ${elapsed !== null && elapsed < 1 ? 'under a second' : `${duration(elapsed)} (${rate(average)} on average)`}.`}
            </p>
          )}
        </div>
        <div class="card">
          <h2>Tokens and cost</h2>
          <Usage job={job} />
        </div>
      </div>

      <div class="card">
        <h2>Details</h2>
        <dl class="details">
          <dt>Model</dt>
          <dd>{job.model ?? job.agent_id}</dd>
          <dt>Endpoint</dt>
          <dd class="mono">{job.endpoint}</dd>
          <dt>Created</dt>
          <dd>{dateTime(job.created_at)}</dd>
          <dt>Started</dt>
          <dd>{dateTime(job.started_at)}</dd>
          <dt>Completed</dt>
          <dd>{dateTime(job.completed_at)}</dd>
          <dt>Timeout</dt>
          <dd>{job.timeout_hours} h</dd>
          <dt>Input files</dt>
          <dd class="mono small">{job.input_files.length ? job.input_files.join(', ') : '—'}</dd>
          <dt>Metadata</dt>
          <dd>
            <Metadata metadata={job.metadata} />
          </dd>
        </dl>
      </div>

      {job.failed_requests > 0 ? <FailedLines api={api} job={job} /> : null}
    </section>
  );
}

function Usage({ job }: { job: Job }) {
  const u = job.usage;
  if (!u) return <p class="muted">This server reports no token usage.</p>;
  return (
    <dl class="details">
      <dt>Prompt tokens</dt>
      <dd>{count(u.prompt_tokens)}</dd>
      <dt>Completion tokens</dt>
      <dd>{count(u.completion_tokens)}</dd>
      <dt>Total tokens</dt>
      <dd>{count(u.total_tokens)}</dd>
      <dt>Cost</dt>
      <dd>{u.cost_usd === null ? <span class="muted">no price is configured for {job.model}</span> : `${usd(u.cost_usd)} (batch price)`}</dd>
    </dl>
  );
}
