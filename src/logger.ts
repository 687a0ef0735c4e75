import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The one structured logger of a process (pino, JSON lines on stdout): the API's access
 * log, the runner, the workers and the store log through it, with job, chunk and worker
 * ids as fields. The CLI's user-facing lines (the listening address, a new key) are not logs.
 */
export function createLogger(level: string): Logger {
  return pino({ level });
}
