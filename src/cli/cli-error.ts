/**
 * A failure a client command reports as one line on stderr (`batchd: <message>`) with a
 * non-zero exit, never a stack trace: the message names the problem and, where there is
 * one, what to do about it.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The Mistral-shaped error body the server answers with. */
interface ErrorBody {
  message?: unknown;
  code?: unknown;
  param?: unknown;
  detail?: { loc?: unknown[]; msg?: unknown }[];
}

/**
 * One line for an HTTP error answer: what was being done, the server's own message (it
 * already names the field or line at fault, e.g. "Invalid batch file: line 3: …"),
 * and the status and code, so a script's log says everything in one place.
 */
export function httpFailure(what: string, status: number, body: unknown, url: string): CliError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as ErrorBody;
  const message = typeof b.message === 'string' && b.message ? b.message : typeof body === 'string' && body ? body.slice(0, 300) : 'no message';
  const code = typeof b.code === 'string' ? ` ${b.code}` : '';
  const hint = status === 401 ? ` — check BATCHD_API_KEY / --api-key for ${url}` : '';
  return new CliError(oneLine(`${what}: ${message} (HTTP ${status}${code})${hint}`));
}

/** A fetch that never got an answer: the cause's code says why (refused, unknown host, reset…). */
export function networkFailure(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  if (cause?.code === 'ECONNREFUSED')
    return new CliError(`cannot reach batchd at ${url} (connection refused): is \`batchd serve\` running there? Set BATCHD_URL or --url`);
  if (cause?.code === 'ENOTFOUND') return new CliError(`cannot reach batchd at ${url} (unknown host): check BATCHD_URL or --url`);
  return new CliError(oneLine(`cannot reach batchd at ${url} (${why})`));
}

/** Error messages from anywhere (the server, the OS) on a single line. */
export const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
