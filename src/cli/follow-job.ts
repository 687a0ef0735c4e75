import type { JobObject } from './api-types.js';
import type { BatchdClient } from './client.js';
import { CliError, httpFailure } from './cli-error.js';
import { readSse } from './sse.js';
import { isTerminal } from '../queue/states.js';

const POLL_MS = 1000;
/** The server pings every 15 s; a stream silent for longer than this is presumed dead and reopened. */
const STREAM_IDLE_MS = 40_000;
/** Streams that end without a terminal status, in a row, before falling back to polling. */
const MAX_STREAM_RETRIES = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Follows a job until it reaches a terminal status, calling `onUpdate` with every state
 * seen, and returns the last one. It reads the job's event stream
 * (GET /v1/batch/jobs/{id}/events: the job object at once and on every change); a server
 * without that route (404) is polled with GET /v1/batch/jobs/{id} every second instead,
 * and so is one whose stream keeps ending early.
 */
export async function followJob(client: BatchdClient, id: string, onUpdate: (job: JobObject) => void): Promise<JobObject> {
  // A plain GET first: an unknown id is reported as such, not as a missing event stream.
  let job = await client.getJob(id);
  onUpdate(job);
  let streamFailures = 0;
  while (!isTerminal(job.status) && streamFailures < MAX_STREAM_RETRIES) {
    const result = await followStream(client, job.id, (j) => {
      job = j;
      onUpdate(j);
    });
    if (result === 'no-stream') break;
    if (isTerminal(job.status)) return job;
    streamFailures++;
    job = await client.getJob(id);
    onUpdate(job);
  }
  while (!isTerminal(job.status)) {
    await sleep(POLL_MS);
    job = await client.getJob(id);
    onUpdate(job);
  }
  return job;
}

/** Reads one connection of the event stream until it ends; 'no-stream' if the server has no such route. */
async function followStream(client: BatchdClient, id: string, onJob: (job: JobObject) => void): Promise<'ended' | 'no-stream'> {
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const resetIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(), STREAM_IDLE_MS);
  };
  try {
    resetIdle();
    const res = await client.stream(`/v1/batch/jobs/${encodeURIComponent(id)}/events`, abort.signal);
    if (res.status === 404 || res.status === 405) {
      await res.body?.cancel();
      return 'no-stream';
    }
    if (!res.ok) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* keep the text */
      }
      throw httpFailure(`events of job '${id}'`, res.status, body, client.conn.url);
    }
    if (!res.body) return 'ended';
    const chunks = (async function* () {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        resetIdle();
        yield chunk;
      }
    })();
    for await (const event of readSse(chunks)) {
      if (event.event !== 'job') continue;
      const job = JSON.parse(event.data) as JobObject;
      onJob(job);
      if (isTerminal(job.status)) {
        abort.abort();
        break;
      }
    }
    return 'ended';
  } catch (err) {
    // A dropped or silent connection is reopened by the caller; an HTTP error answer is not.
    if (err instanceof CliError) throw err;
    return 'ended';
  } finally {
    clearTimeout(idle);
  }
}
