import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Mistral } from '@mistralai/mistralai';
import type { BatchJob, CreateFileResponse } from '@mistralai/mistralai/models/components';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';
import { defaultEngineFactories } from '../engines/factories.js';
import { JobStatus } from '../queue/states.js';

/*
 * Mistral's end-to-end batch example, ported line for line from the Python of the docs
 * (mistralai/platform-docs-public, src/content/en/docs/studio/batch-processing/
 * end_example_tab/_page.mdx, tab V2) to TypeScript with the official SDK. Each function
 * keeps its Python name in camelCase and does what the Python does, in the same order,
 * printing the same lines; the only additions are injectable `print` and `random` (so a
 * test can read the output) and the returned job (so callers can check the outcome).
 */

export type Print = (line: string) => void;

export interface ExampleOptions {
  numSamples: number;
  successPath: string;
  errorPath: string;
  model: string;
}

/** create_client(): the Python reads MISTRAL_API_KEY; here the key and server are passed in. */
export function createClient(apiKey: string, serverURL?: string): Mistral {
  return new Mistral({ apiKey, ...(serverURL ? { serverURL } : {}) });
}

/** Python's random.randrange(start, end): an integer in [start, end). */
const randrange = (start: number, end: number, random: () => number) => start + Math.floor(random() * (end - start));

/** generate_random_string(start, end): `length = randrange(start, end)` letters a-z drawn with replacement, joined by single spaces. */
export function generateRandomString(start: number, end: number, random: () => number = Math.random): string {
  const length = randrange(start, end, random);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  // random.choices(population, k) draws population[floor(random() * n)] k times.
  return Array.from({ length }, () => letters[Math.floor(random() * letters.length)]).join(' ');
}

/** print_stats(batch_job). */
export function printStats(batchJob: BatchJob, print: Print = console.log): void {
  print(`Total requests: ${batchJob.totalRequests}`);
  print(`Failed requests: ${batchJob.failedRequests}`);
  print(`Successful requests: ${batchJob.succeededRequests}`);
  print(`Percent done: ${percentDone(batchJob.succeededRequests + batchJob.failedRequests, batchJob.totalRequests)}`);
}

/**
 * Python's `round(done / total, 4) * 100`, printed as Python prints a float. round works
 * on the exact value of the double and breaks exact ties to even; JS's toFixed also works
 * on the exact value but breaks ties upwards. A double is exactly halfway between two
 * 4-decimal numbers only when it is an odd multiple of 1/32 (0.03125, 0.09375, …), so only
 * those are corrected. Python prints an integral float with ".0" ("100.0"); otherwise its
 * repr and JS's toString agree digit for digit (both print the shortest round-trip decimal)
 * for values between 1e-4 and 1e16, which covers 0.01 to 100.
 * A total of 0 would raise ZeroDivisionError in the Python; batchd counts a job's lines
 * when it is created, so it never reports 0, and should it, "0.0" is printed instead.
 */
export function percentDone(done: number, total: number): string {
  if (total === 0) return '0.0';
  const x = done / total;
  let rounded = Number(x.toFixed(4));
  const x32 = x * 32; // exact: a power-of-two scaling
  if (Number.isInteger(x32) && x32 % 2 === 1) {
    const below = Math.floor(x * 10000); // exact here: x * 10000 is an odd multiple of 312.5
    rounded = (below % 2 === 0 ? below : below + 1) / 10000;
  }
  const value = rounded * 100;
  return Number.isInteger(value) ? `${value}.0` : String(value);
}

/** Python's json.dumps(obj) with its defaults: ", " and ": " separators, everything outside printable ASCII escaped. */
export function pythonJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(v)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.stringify(value);
}

/** create_input_file(client, num_samples): the JSONL is built in memory, as the Python's BytesIO. */
export async function createInputFile(client: Mistral, numSamples: number, random: () => number = Math.random): Promise<CreateFileResponse> {
  const buffer: Buffer[] = [];
  for (let idx = 0; idx < numSamples; idx++) {
    const request = {
      custom_id: String(idx),
      body: {
        max_tokens: randrange(10, 1001, random), // random.randint(10, 1000), inclusive
        messages: [{ role: 'user', content: generateRandomString(100, 5000, random) }],
      },
    };
    buffer.push(Buffer.from(pythonJsonDumps(request), 'utf8'));
    buffer.push(Buffer.from('\n', 'utf8'));
  }
  return client.files.upload({ file: { fileName: 'file.jsonl', content: Buffer.concat(buffer) }, purpose: 'batch' });
}

/** run_batch_job(client, input_file, model): create, then get + print_stats + sleep 1 s while QUEUED or RUNNING. */
export async function runBatchJob(client: Mistral, inputFile: CreateFileResponse, model: string, print: Print = console.log): Promise<BatchJob> {
  let batchJob = await client.batch.jobs.create({
    inputFiles: [inputFile.id],
    model,
    endpoint: '/v1/chat/completions',
    metadata: { job_type: 'testing' },
  });
  while (batchJob.status === JobStatus.QUEUED || batchJob.status === JobStatus.RUNNING) {
    batchJob = await client.batch.jobs.get({ jobId: batchJob.id });
    printStats(batchJob, print);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  print(`Batch job ${batchJob.id} completed with status: ${batchJob.status}`);
  return batchJob;
}

/** download_file(client, file_id, output_path): nothing when file_id is None. */
export async function downloadFile(client: Mistral, fileId: string | null | undefined, outputPath: string, print: Print = console.log): Promise<void> {
  if (fileId !== null && fileId !== undefined) {
    print(`Downloading file to ${outputPath}`);
    const outputFile = await client.files.download({ fileId });
    await pipeline(Readable.fromWeb(outputFile as import('node:stream/web').ReadableStream<Uint8Array>), fs.createWriteStream(outputPath));
    print(`Downloaded file to ${outputPath}`);
  }
}

/** main(num_samples, success_path, error_path, model), with the client passed in; returns the finished job. */
export async function runExample(client: Mistral, opts: ExampleOptions, print: Print = console.log, random: () => number = Math.random): Promise<BatchJob> {
  const inputFile = await createInputFile(client, opts.numSamples, random);
  print(`Created input file ${pythonStr(inputFile)}`);

  const batchJob = await runBatchJob(client, inputFile, opts.model, print);
  print(`Job duration: ${batchJob.completedAt == null ? 'None' : batchJob.completedAt - batchJob.createdAt} seconds`);
  await downloadFile(client, batchJob.errorFile, opts.errorPath, print);
  await downloadFile(client, batchJob.outputFile, opts.successPath, print);
  return batchJob;
}

/**
 * `npm run demo`: the example against a batchd started here on the embedded default
 * model (no other service needed). stdout carries exactly the example's lines; the
 * server's own log goes to stderr. Returns the exit status: 0 only if the job ended
 * SUCCESS with no failed line.
 */
export async function runDemo(opts: ExampleOptions & { dataDir?: string }): Promise<number> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'batchd-demo-'));
  const apiKey = 'demo-key';
  const config = loadConfig({ dataDir, port: 0 }, { ...process.env, BATCHD_API_KEYS: `demo:${apiKey}` });
  const server = await startServer(config, { engineFactories: defaultEngineFactories(config), log: (l) => console.error(l) });
  try {
    const job = await runExample(createClient(apiKey, server.url), opts);
    const ok = job.status === JobStatus.SUCCESS && job.failedRequests === 0;
    if (!ok) console.error(`batchd demo: the job ended ${job.status} with ${job.failedRequests} failed request(s); see ${opts.errorPath}`);
    return ok ? 0 : 1;
  } finally {
    await server.close();
    if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** What Python's print(model) shows for a pydantic object: `field=repr(value)` pairs, snake_case names. */
function pythonStr(obj: object): string {
  const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return Object.entries(obj)
    .map(([k, v]) => `${snake(k)}=${pythonRepr(v)}`)
    .join(' ');
}

function pythonRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') {
    const quote = v.includes("'") && !v.includes('"') ? '"' : "'";
    return `${quote}${v.replace(/\\/g, '\\\\').replace(new RegExp(quote, 'g'), `\\${quote}`)}${quote}`;
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
