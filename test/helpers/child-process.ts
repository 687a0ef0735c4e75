import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'batchd.js');

export interface ChildServer {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A `batchd worker` process and the id it leases chunks under. */
export type ChildWorker = ChildProcess & { workerId: string };

/** Starts `batchd worker` (no HTTP) and resolves once it reports running. */
export function startChildWorker(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildWorker> {
  const proc = spawn(process.execPath, [BIN, 'worker', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stderr!.on('data', (d) => (out += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /batchd worker (\S+) running/.exec(out);
      if (m) resolve(Object.assign(proc, { workerId: m[1]! }));
    });
    proc.once('exit', (code) => reject(new Error(`batchd worker exited with ${code}: ${out}`)));
  });
}

export function stopProcess(proc: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return done();
    proc.once('exit', () => done());
    proc.kill('SIGTERM');
  });
}

/** The URL a starting `batchd serve` prints on its listening line; rejects if it exits first. */
export function listeningUrl(proc: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /batchd listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.stderr!.on('data', (d) => (out += d));
    proc.once('exit', (code) => reject(new Error(`batchd exited with ${code} before listening: ${out}`)));
  });
}

/** Starts `batchd <args>` as a child process and resolves once it prints its listening line. */
export function startChildServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildServer> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr!.on('data', (d) => (err += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /batchd listening on (\S+)/.exec(out);
      if (m) {
        resolve({
          url: m[1]!,
          proc,
          stop: () => stopProcess(proc),
        });
      }
    });
    proc.once('exit', (code) => reject(new Error(`batchd exited with ${code} before listening: ${err || out}`)));
  });
}

/** kill -9: no shutdown code runs, leases stay held until they expire. */
export function killHard(proc: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return done();
    proc.once('exit', () => done());
    proc.kill('SIGKILL');
  });
}
