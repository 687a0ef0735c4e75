import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError, httpFailure, networkFailure } from './cli-error.js';
import type { Connection } from './connection.js';
import { uploadMultipart } from './upload.js';
import type { FileObject, JobObject } from './api-types.js';

/**
 * The few calls the CLI makes to a batchd server, over its public HTTP API only (the
 * same one the SDKs and the dashboard use). Every failure becomes a CliError whose one
 * line says what was being done and what the server or the network answered.
 */
export class BatchdClient {
  constructor(readonly conn: Connection) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.conn.key}`, ...extra };
  }

  /** A JSON call; `what` names it in the error line ("job 'x'", "create job"). */
  async json<T>(method: string, route: string, what: string, body?: unknown): Promise<T> {
    const res = await this.fetch(route, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = parseJson(text);
    if (!res.ok) throw httpFailure(what, res.status, parsed ?? text, this.conn.url);
    if (parsed === undefined) throw new CliError(`${what}: the server at ${this.conn.url} answered HTTP ${res.status} with no JSON: is it batchd?`);
    return parsed as T;
  }

  getJob(id: string): Promise<JobObject> {
    return this.json('GET', `/v1/batch/jobs/${encodeURIComponent(id)}`, `job '${id}'`);
  }

  /** Streams a local file to POST /v1/files; `onBytes` sees the running count of file bytes sent. */
  async uploadFile(file: string, purpose: string, onBytes: (sent: number) => void): Promise<FileObject> {
    const { status, body } = await uploadMultipart(`${this.conn.url}/v1/files`, this.headers(), file, purpose, onBytes).catch((err: unknown) => {
      if (err instanceof CliError) throw err;
      throw networkFailure(this.conn.url, { cause: err });
    });
    const parsed = parseJson(body);
    if (status !== 200) throw httpFailure(`upload ${path.basename(file)}`, status, parsed ?? body, this.conn.url);
    return parsed as FileObject;
  }

  /**
   * Streams a file's content to `dest` (a path, written to `<path>.part` and renamed when
   * complete, so an interrupted download never looks finished; or a stream such as stdout).
   * Returns the bytes written.
   */
  async download(fileId: string, dest: string | Writable, onBytes?: (received: number) => void): Promise<number> {
    const res = await this.fetch(`/v1/files/${encodeURIComponent(fileId)}/content`, { headers: this.headers() });
    if (!res.ok) {
      const text = await res.text();
      throw httpFailure(`download file '${fileId}'`, res.status, parseJson(text) ?? text, this.conn.url);
    }
    let received = 0;
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      received += chunk.length;
      onBytes?.(received);
    });
    if (typeof dest !== 'string') {
      await pipeline(body, dest, { end: false });
      return received;
    }
    const part = `${dest}.part`;
    try {
      await pipeline(body, fs.createWriteStream(part));
      fs.renameSync(part, dest);
    } catch (err) {
      fs.rmSync(part, { force: true });
      const e = err as NodeJS.ErrnoException;
      if (e.syscall) throw new CliError(`cannot write ${dest}: ${e.code ?? e.message}`);
      throw new CliError(`download of file '${fileId}' was cut off after ${received} bytes (${e.message})`);
    }
    return received;
  }

  /** GET with a streamed answer (the job's event stream); the caller reads or cancels the body. */
  stream(route: string, signal: AbortSignal): Promise<Response> {
    return this.fetch(route, { headers: this.headers({ accept: 'text/event-stream' }), signal });
  }

  private async fetch(route: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.conn.url}${route}`, init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw networkFailure(this.conn.url, err);
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
