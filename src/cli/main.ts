import { Command, Option } from 'commander';
import { loadConfig, type ConfigInput } from '../config.js';
import { oneLine } from './cli-error.js';
import { registerFiles } from './commands/files.js';
import { registerJobs } from './commands/jobs.js';
import { registerKeys } from './commands/keys.js';
import { registerSubmit } from './commands/submit.js';

const program = new Command('batchd').description('Self-hosted batch inference server with a Mistral-compatible API');

const collect = (v: string, prev: string[] = []) => [...prev, v];

program
  .command('serve')
  .description('Run the API (and, unless --no-worker, the job runner)')
  .option('--host <host>', 'address to listen on (BATCHD_HOST, default 127.0.0.1)')
  .option('--port <port>', 'port to listen on (BATCHD_PORT, default 8787)')
  .option('--data-dir <dir>', 'data directory (BATCHD_DATA_DIR, default ./.batchd)')
  .option('--database <url>', 'sqlite:<path> or postgres://… (BATCHD_DATABASE_URL, default SQLite in the data dir)')
  .option('--blob-dir <dir>', 'shared directory for file bytes (BATCHD_BLOB_DIR; default: data dir, or the database on PostgreSQL)')
  .option('--config <file>', 'model registry file, JSON or YAML (BATCHD_CONFIG)')
  .option('--model <name=path>', 'serve a GGUF file under a model name (repeatable)', collect)
  .option('--max-pending-requests <n>', 'pending requests allowed per workspace (BATCHD_MAX_PENDING_REQUESTS, default 1000000)')
  .option('--public-url <url>', 'base URL used in signed download URLs (BATCHD_PUBLIC_URL)')
  .addOption(new Option('--no-worker', 'serve the API only; run jobs in separate `batchd worker` processes'))
  .action(async (opts: ConfigInput) => {
    // Loaded here, not at the top: the client commands (submit, jobs, files) start without the server's code.
    const { startServer } = await import('../server.js');
    const { defaultEngineFactories } = await import('../engines/factories.js');
    const config = loadConfig(opts);
    const server = await startServer(config, {
      engineFactories: defaultEngineFactories(config),
      // Prints the llama.cpp backend and device in use (loads llama.cpp's binding before listening).
      reportBackend: true,
      log: (line) => console.log(line),
      warn: (line) => console.error(line),
    });
    const shutdown = (signal: string) => {
      // Stop accepting, finish in-flight requests, release the store; a second signal forces exit.
      process.once(signal, () => process.exit(1));
      server.close().then(
        () => process.exit(0),
        (err) => {
          console.error(`batchd: error during shutdown: ${(err as Error).message}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });

registerKeys(program);
registerSubmit(program);
registerJobs(program);
registerFiles(program);

program
  .command('demo')
  .description("Run Mistral's end-to-end batch example (the docs' Python, ported) against a batchd started on the embedded default model")
  // The Python script's flags and defaults (argparse), plus where this batchd keeps its data.
  .option('--num_samples <n>', 'Number of samples to process', '100')
  .option('--success_path <path>', 'Path to save successful outputs', 'output.jsonl')
  .option('--error_path <path>', 'Path to save error outputs', 'error.jsonl')
  .option('--model <id>', 'Model name to use', 'codestral-latest')
  .option('--data-dir <dir>', "the demo server's data directory (default: a fresh temporary one)")
  .action(async (opts: { num_samples: string; success_path: string; error_path: string; model: string; dataDir?: string }) => {
    const numSamples = Number(opts.num_samples);
    if (!Number.isInteger(numSamples) || numSamples < 0) throw new Error(`--num_samples must be a whole number; got '${opts.num_samples}'`);
    const { runDemo } = await import('./demo.js');
    process.exit(await runDemo({ numSamples, successPath: opts.success_path, errorPath: opts.error_path, model: opts.model, dataDir: opts.dataDir }));
  });

program
  .command('worker')
  .description('Run jobs only (no API): any number of workers may share one PostgreSQL store')
  .option('--data-dir <dir>', 'data directory (BATCHD_DATA_DIR)')
  .option('--database <url>', 'database URL (BATCHD_DATABASE_URL)')
  .option('--blob-dir <dir>', 'shared directory for file bytes (BATCHD_BLOB_DIR)')
  .option('--config <file>', 'model registry file (BATCHD_CONFIG)')
  .option('--model <name=path>', 'serve a GGUF file under a model name (repeatable)', collect)
  .option('--metrics-port <port>', 'serve GET /metrics for Prometheus on this port (BATCHD_METRICS_PORT)')
  .action(async (opts: ConfigInput) => {
    const { startWorker } = await import('../server.js');
    const { defaultEngineFactories } = await import('../engines/factories.js');
    const config = loadConfig(opts);
    if (!/^postgres(ql)?:/.test(config.databaseUrl)) {
      throw new Error('batchd worker needs a PostgreSQL store (--database postgres://…): an SQLite store is run by one `batchd serve` process');
    }
    const worker = await startWorker(config, {
      engineFactories: defaultEngineFactories(config),
      log: (line) => console.log(line),
      warn: (line) => console.error(line),
    });
    const shutdown = () =>
      worker.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });

// Every failure is one line on stderr and exit 1 (the waiting commands' other codes are in job-outcome.ts).
program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`batchd: ${oneLine(err.message)}`);
  process.exit(1);
});
