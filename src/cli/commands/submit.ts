import path from 'node:path';
import type { Command } from 'commander';
import type { JobObject } from '../api-types.js';
import type { BatchdClient } from '../client.js';
import { CliError } from '../cli-error.js';
import { bytes, plural, printJson } from '../format.js';
import { EXIT, exitCodeOf, followWithProgress, outcomeLine } from '../job-outcome.js';
import { uploadWithProgress } from '../progress.js';
import { clientCommand, collect } from './client-command.js';

interface SubmitOptions {
  model: string;
  endpoint: string;
  metadata?: string[];
  timeoutHours?: string;
  wait?: boolean;
  output?: string;
  errors?: string;
  json?: boolean;
}

/** `<dir>/<name>.output.jsonl` and `<dir>/<name>.errors.jsonl` beside the input `<dir>/<name>.jsonl`. */
export function defaultResultPaths(input: string): { output: string; errors: string } {
  const { dir, name } = path.parse(path.resolve(input));
  return { output: path.join(dir, `${name}.output.jsonl`), errors: path.join(dir, `${name}.errors.jsonl`) };
}

export function parseMetadata(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new CliError(`--metadata expects key=value, got '${pair}'`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

export function registerSubmit(program: Command): void {
  clientCommand<SubmitOptions>(
    program,
    'submit <file>',
    'Upload a JSONL batch file and create a job on it; with --wait, follow it to the end and download its results',
    (cmd) =>
      cmd
        .requiredOption('--model <model>', 'model to run the requests on, e.g. mistral-small-latest')
        .option('--endpoint <path>', 'endpoint of every line', '/v1/chat/completions')
        .option('--metadata <key=value>', 'job metadata (repeatable)', collect)
        .option('--timeout-hours <n>', 'hours before unfinished lines expire (1-168, server default 24)')
        .option('--wait', 'follow the job with a live progress bar until it ends, then download its output and error files')
        .option('--output <path>', 'with --wait: where to write the output file (default <file dir>/<file name>.output.jsonl)')
        .option('--errors <path>', 'with --wait: where to write the error file, if any line failed (default <file dir>/<file name>.errors.jsonl)')
        .option('--json', 'print the job object as JSON (the final one with --wait) instead of a summary')
        .addHelpText(
          'after',
          `
Without --wait it prints the new job and exits 0. With --wait the exit code is
  0  the job ended SUCCESS and no line failed
  2  the job ended SUCCESS but some lines failed (they are in the error file)
  3  the job ended FAILED, TIMEOUT_EXCEEDED or CANCELLED (what finished is still downloaded)
  1  the command failed: bad arguments, unreachable server, refused key, invalid file (the server names the line)
The error file is written only when the job has failed lines. Progress goes to stderr:
a bar on a terminal, otherwise one line per change, at most one a second.`,
        ),
    async (client, [file], opts) => submit(client, file!, opts),
  );
}

async function submit(client: BatchdClient, file: string, opts: SubmitOptions): Promise<number> {
  const metadata = parseMetadata(opts.metadata);
  let timeoutHours: number | undefined;
  if (opts.timeoutHours !== undefined) {
    timeoutHours = Number(opts.timeoutHours);
    if (!/^\d+$/.test(opts.timeoutHours)) throw new CliError(`--timeout-hours must be a whole number of hours, got '${opts.timeoutHours}'`);
  }
  const say = (line: string) => {
    if (!opts.json) process.stdout.write(`${line}\n`);
  };

  const uploaded = await uploadWithProgress(client, file, 'batch');
  say(`Uploaded ${path.basename(file)} as file ${uploaded.id} (${uploaded.num_lines ?? '?'} requests, ${bytes(uploaded.bytes)})`);

  let created: JobObject;
  try {
    created = await client.json<JobObject>('POST', '/v1/batch/jobs', 'create job', {
      input_files: [uploaded.id],
      model: opts.model,
      endpoint: opts.endpoint,
      ...(metadata ? { metadata } : {}),
      ...(timeoutHours !== undefined ? { timeout_hours: timeoutHours } : {}),
    });
  } catch (err) {
    // A refused job (unknown model, bad endpoint…) leaves no orphan upload behind.
    await client.json('DELETE', `/v1/files/${uploaded.id}`, 'delete upload').catch(() => undefined);
    throw err;
  }
  if (!opts.wait) {
    if (opts.json) printJson(created);
    say(`Created job ${created.id} (${created.total_requests} requests on ${created.model}, ${created.endpoint}, ${created.status})`);
    return EXIT.ok;
  }
  say(`Created job ${created.id} (${created.total_requests} requests on ${created.model}, ${created.endpoint}); following it`);

  const job = await followWithProgress(client, created.id);

  const paths = defaultResultPaths(file);
  const outputPath = path.resolve(opts.output ?? paths.output);
  const errorsPath = path.resolve(opts.errors ?? paths.errors);
  say(outcomeLine(job));
  if (job.output_file) {
    const n = await client.download(job.output_file, outputPath);
    say(`Output: ${outputPath} (${plural(job.succeeded_requests, 'line')}, ${bytes(n)})`);
  }
  if (job.error_file && job.failed_requests > 0) {
    const n = await client.download(job.error_file, errorsPath);
    say(`Errors: ${errorsPath} (${plural(job.failed_requests, 'line')}, ${bytes(n)})`);
    for (const group of job.errors ?? []) say(`  ${group.count ?? '?'} × ${group.message}`);
  } else {
    say('Errors: none (no line failed)');
  }
  if (opts.json) printJson(job);
  return exitCodeOf(job);
}
