import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'batchd.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a CLI run: the sources (BATCHD_FROM_SOURCE, so a stale build is never
 * what is tested), this server and key, and none of the caller's own batchd/Mistral settings.
 */
export function cliEnv(url: string, key: string | null, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BATCHD_FROM_SOURCE: '1', BATCHD_URL: url, NO_COLOR: '1' };
  delete env.MISTRAL_API_KEY;
  delete env.BATCHD_DATA_DIR;
  if (key === null) delete env.BATCHD_API_KEY;
  else env.BATCHD_API_KEY = key;
  Object.assign(env, extra);
  return env;
}

/** `node bin/batchd.js <args>` with stdout and stderr as pipes (not terminals). */
export function spawnCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): { proc: ChildProcess; done: Promise<CliResult>; soFar: () => { stdout: string; stderr: string } } {
  const proc = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
  return { proc, done, soFar: () => ({ stdout, stderr }) };
}

export const runCli = (args: string[], env: NodeJS.ProcessEnv, cwd?: string) => spawnCli(args, env, cwd).done;

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The same in a pseudo-terminal of `columns` columns, made by util-linux `script`:
 * stdout and stderr are both the terminal, so what comes back is what a user would see
 * (escape sequences included), and the exit code is the CLI's (`script -e`).
 */
export function runCliInPty(args: string[], env: NodeJS.ProcessEnv, columns = 80): Promise<{ code: number | null; output: string }> {
  const command = `stty cols ${columns} rows 40; exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  const proc = spawn('script', ['-qec', command, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, output })));
}

/** What a terminal shows of bar output: escape sequences removed, each redraw on its own line. */
export const screenLines = (output: string) =>
  output
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '\n')
    .split(/[\r\n]+/)
    .map((l) => l.trimEnd())
    .filter(Boolean);

/** The one-line failure every client command prints: `batchd: …` alone on stderr, no stack trace. */
export function oneErrorLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter(Boolean);
  const errors = lines.filter((l) => !/^(uploading |job [0-9a-f]{8} )/.test(l));
  if (errors.length !== 1 || !errors[0]!.startsWith('batchd: ') || /\n\s+at /.test(r.stderr)) {
    throw new Error(`expected one "batchd: …" line on stderr, got:\n${r.stderr}`);
  }
  return errors[0]!;
}
