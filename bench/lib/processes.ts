import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Runs a bench/lib script under tsx as a child process. */
export function spawnScript(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line matching `pattern`; rejects if the process exits first. */
export function waitForLine(proc: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (m) {
        proc.stdout!.off('data', onData);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d) => (err += d));
    proc.once('exit', (code) => reject(new Error(`${proc.spawnargs.join(' ')} exited with ${code}: ${err || out}`)));
  });
}

/** The fake upstream in its own process; `stop()` ends it. */
export async function startFakeUpstreamProcess(latencyMs: number, maxConcurrent: number): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const proc = spawnScript('fake-upstream-process.ts', [String(latencyMs), String(maxConcurrent)]);
  const m = await waitForLine(proc, /fake upstream listening on (\S+)/);
  return {
    url: m[1]!,
    pid: proc.pid!,
    stop: () =>
      new Promise((done) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return done();
        proc.once('exit', () => done());
        proc.kill('SIGTERM');
      }),
  };
}

/** The direct load generator in its own process: milliseconds for `requests` calls at `concurrency`, after `warmup` untimed ones. */
export async function runLoadGenerator(url: string, requests: number, concurrency: number, warmup = 0): Promise<number> {
  const proc = spawnScript('load-generator.ts', [url, String(requests), String(concurrency), String(warmup)]);
  const m = await waitForLine(proc, /\{"ms":([\d.]+)\}/);
  await new Promise((done) => (proc.exitCode !== null ? done(null) : proc.once('exit', done)));
  return Number(m[1]);
}

const BIN = path.join(HERE, '..', '..', 'bin', 'batchd.js');

/** `batchd <args>` as a child process, with `nodeArgs` for node itself (e.g. --cpu-prof, not allowed in NODE_OPTIONS). */
export async function startBatchd(
  args: string[],
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<{ url: string; proc: ChildProcess; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [...nodeArgs, BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = await waitForLine(proc, /batchd listening on (\S+)/);
  return {
    url: m[1]!,
    proc,
    stop: () =>
      new Promise((done) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return done();
        proc.once('exit', () => done());
        proc.kill('SIGTERM');
      }),
  };
}
