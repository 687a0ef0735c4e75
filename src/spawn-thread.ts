import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running the module `entry` next to `from` (the caller's import.meta.url):
 * the compiled `.js`, or from sources the TypeScript one, loaded through tsx the way the
 * main thread was (tests, `node --import tsx`, BATCHD_FROM_SOURCE).
 */
export function spawnThread(from: string, entry: string, options: WorkerOptions = {}): Worker {
  if (from.endsWith('.js')) return new Worker(new URL(`./${entry}.js`, from), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const url = new URL(`./${entry}.ts`, from).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, { ...options, eval: true });
}
