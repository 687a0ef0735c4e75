import type { Command } from 'commander';
import type { JobObject, ListOf } from '../api-types.js';
import { CliError } from '../cli-error.js';
import { duration, fieldTable, metadataText, percent, plural, printJson, table, timestamp } from '../format.js';
import { exitCodeOf, followWithProgress, outcomeLine } from '../job-outcome.js';
import { JOB_STATUSES } from '../../queue/states.js';
import { clientCommand, collect } from './client-command.js';

const jobPath = (id: string) => `/v1/batch/jobs/${encodeURIComponent(id)}`;

function statusesOf(values: string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .filter(Boolean)
    .map((s) => {
      const up = s.trim().toUpperCase();
      if (!(JOB_STATUSES as readonly string[]).includes(up)) throw new CliError(`--status '${s}' is not one of ${JOB_STATUSES.join(', ')}`);
      return up;
    });
}

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new CliError(`${flag} must be a whole number, got '${value}'`);
  return Number(value);
}

/** Seconds the job has run (so far, or in all once finished). */
function runTime(job: JobObject): string {
  if (job.started_at === null) return '-';
  return duration((job.completed_at ?? Date.now() / 1000) - job.started_at);
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('List, inspect, follow, cancel and retry batch jobs');

  clientCommand<{ status?: string[]; model?: string; limit?: string; page?: string; json?: boolean }>(
    jobs,
    'ls',
    "List this workspace's jobs, newest first",
    (cmd) =>
      cmd
        .option('--status <status>', `only jobs in this status (repeatable or comma-separated: ${JOB_STATUSES.join(', ')})`, collect)
        .option('--model <model>', 'only jobs on this model')
        .option('--limit <n>', 'jobs per page (1-1000)', '100')
        .option('--page <n>', 'page number, from 0', '0')
        .option('--json', 'print the API list object as JSON'),
    async (client, _args, opts) => {
      const q = new URLSearchParams({ page: String(positiveInt(opts.page, '--page', 0)), page_size: String(positiveInt(opts.limit, '--limit', 100)) });
      for (const s of statusesOf(opts.status)) q.append('status', s);
      if (opts.model) q.set('model', opts.model);
      const list = await client.json<ListOf<JobObject>>('GET', `/v1/batch/jobs?${q}`, 'list jobs');
      if (opts.json) return printJson(list);
      if (list.data.length === 0) {
        process.stdout.write('No jobs.\n');
        return;
      }
      const rows = list.data.map((j) => [
        j.id,
        j.status,
        j.model ?? j.agent_id ?? '-',
        j.endpoint,
        `${j.completed_requests}/${j.total_requests} ${percent(j.completed_requests, j.total_requests)}`,
        j.succeeded_requests,
        j.failed_requests,
        timestamp(j.created_at),
        runTime(j),
        metadataText(j.metadata),
      ]);
      process.stdout.write(`${table(['ID', 'STATUS', 'MODEL', 'ENDPOINT', 'DONE', 'OK', 'FAILED', 'CREATED (UTC)', 'RUN TIME', 'METADATA'], rows)}\n`);
      const shown = list.data.length;
      if (list.total > shown) process.stdout.write(`${shown} of ${list.total} jobs shown (--page, --limit for more)\n`);
    },
  );

  clientCommand<{ json?: boolean }>(
    jobs,
    'get <id>',
    'Show one job: status, counts, files, token usage and errors',
    (cmd) => cmd.option('--json', 'print the job object as JSON'),
    async (client, [id], opts) => {
      const job = await client.getJob(id!);
      if (opts.json) return printJson(job);
      process.stdout.write(`${jobTable(job)}\n`);
    },
  );

  clientCommand<object>(
    jobs,
    'watch <id>',
    'Follow a job with a live progress bar until it ends (exit code as for submit --wait: 0 success, 2 lines failed, 3 not SUCCESS)',
    (cmd) => cmd,
    async (client, [id]) => {
      const job = await followWithProgress(client, id!);
      process.stdout.write(`${outcomeLine(job)}\n`);
      return exitCodeOf(job);
    },
  );

  // The two job actions: a POST on the job, answered by a job object.
  const actions = [
    {
      name: 'cancel',
      description: 'Ask a job to stop: lines not yet run end as batch_cancelled (a finished job is left as it is)',
      summary: (job: JobObject) => `Job ${job.id} is ${job.status} (${job.completed_requests}/${job.total_requests} done)`,
    },
    {
      name: 'retry',
      description: "Run a finished job's failed lines again, as a new job (same model, endpoint, metadata and timeout)",
      summary: (job: JobObject, id: string) => `Job ${job.id} retries ${plural(job.total_requests, 'failed line')} of job ${id} (${job.status})`,
    },
  ];
  for (const action of actions) {
    clientCommand<{ json?: boolean }>(
      jobs,
      `${action.name} <id>`,
      action.description,
      (cmd) => cmd.option('--json', 'print the job object the server answers as JSON'),
      async (client, [id], opts) => {
        const job = await client.json<JobObject>('POST', `${jobPath(id!)}/${action.name}`, `${action.name} job '${id}'`);
        if (opts.json) return printJson(job);
        process.stdout.write(`${action.summary(job, id!)}\n`);
      },
    );
  }
}

function jobTable(job: JobObject): string {
  const fields: [string, string | number][] = [
    ['id', job.id],
    ['status', job.status],
    ['model', job.model ?? job.agent_id ?? '-'],
    ['endpoint', job.endpoint],
    ['progress', `${job.completed_requests}/${job.total_requests} ${percent(job.completed_requests, job.total_requests)}`],
    ['succeeded', job.succeeded_requests],
    ['failed', job.failed_requests],
    ['created (UTC)', timestamp(job.created_at)],
    ['started (UTC)', timestamp(job.started_at)],
    ['completed (UTC)', timestamp(job.completed_at)],
    ['run time', runTime(job)],
    ['timeout', job.timeout_hours === undefined ? '-' : `${job.timeout_hours} h`],
    ['input files', job.input_files.join(', ') || '-'],
    ['output file', job.output_file ?? '-'],
    ['error file', job.error_file ?? '-'],
    ['metadata', metadataText(job.metadata) || '-'],
  ];
  if (job.usage) {
    const u = job.usage;
    fields.push(['tokens', `${u.total_tokens} (prompt ${u.prompt_tokens}, completion ${u.completion_tokens})`]);
    fields.push(['cost', u.cost_usd === null ? '-' : `$${u.cost_usd}`]);
  }
  for (const group of job.errors ?? []) fields.push(['errors', `${group.count ?? '?'} × ${group.message}`]);
  return fieldTable(fields);
}
