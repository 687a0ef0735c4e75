import type { FileObject, Job, List, ListOf, ModelCard, ModelLoad } from './types';

/** An answer of the API that is not 2xx: its status and the error body's code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; detail?: unknown };
    const message = typeof body.message === 'string' ? body.message : typeof body.detail === 'string' ? body.detail : text;
    return new ApiError(res.status, typeof body.code === 'string' ? body.code : String(res.status), message || res.statusText);
  } catch {
    return new ApiError(res.status, String(res.status), text || res.statusText);
  }
}

/**
 * The batchd API as one API key sees it: every call sends the key as a bearer token, so
 * everything read is that key's workspace. `onUnauthorized` signs the page out when a key
 * stops working (revoked while the page is open).
 */
export class Api {
  constructor(
    readonly key: string,
    private readonly onUnauthorized: (err: ApiError) => void = () => undefined,
  ) {}

  private headers(extra: Record<string, string> = {}) {
    return { authorization: `Bearer ${this.key}`, ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const err = await errorOf(res);
      if (res.status === 401) this.onUnauthorized(err);
      throw err;
    }
    return (await res.json()) as T;
  }

  jobs(filters: { status?: string; model?: string; pageSize?: number }) {
    const q = new URLSearchParams({ page_size: String(filters.pageSize ?? 100) });
    if (filters.status) q.set('status', filters.status);
    if (filters.model) q.set('model', filters.model);
    return this.request<ListOf<Job>>('GET', `/v1/batch/jobs?${q}`);
  }
  job = (id: string) => this.request<Job>('GET', `/v1/batch/jobs/${encodeURIComponent(id)}`);
  createJob = (body: { input_files: string[]; model: string; endpoint: string; metadata?: Record<string, string>; timeout_hours?: number }) =>
    this.request<Job>('POST', '/v1/batch/jobs', body);
  cancel = (id: string) => this.request<Job>('POST', `/v1/batch/jobs/${encodeURIComponent(id)}/cancel`);
  retry = (id: string) => this.request<Job>('POST', `/v1/batch/jobs/${encodeURIComponent(id)}/retry`);
  files = () => this.request<ListOf<FileObject>>('GET', '/v1/files?page_size=100');
  models = () => this.request<List<ModelCard>>('GET', '/v1/models');
  modelLoad = () => this.request<List<ModelLoad>>('GET', '/v1/dashboard/models');

  /** A short-lived signed URL: the browser downloads the file by following it, without holding it in memory. */
  async downloadUrl(fileId: string): Promise<string> {
    return (await this.request<{ url: string }>('GET', `/v1/files/${encodeURIComponent(fileId)}/url?expiry=1`)).url;
  }

  /** The first `maxBytes` of a file, cut at the last whole line: enough for samples, whatever the file's size. */
  async fileHead(fileId: string, maxBytes: number): Promise<{ lines: string[]; complete: boolean }> {
    const res = await fetch(`/v1/files/${encodeURIComponent(fileId)}/content`, { headers: this.headers() });
    if (!res.ok || !res.body) throw await errorOf(res);
    const reader = res.body.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    let complete = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        complete = true;
        break;
      }
      parts.push(value);
      size += value.byteLength;
      if (size >= maxBytes) {
        await reader.cancel();
        break;
      }
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const p of parts) (bytes.set(p, at), (at += p.byteLength));
    const text = new TextDecoder().decode(bytes.subarray(0, Math.min(size, maxBytes)));
    const lines = text.split('\n');
    // Past the byte budget the last line is probably cut in two: drop it.
    if (!complete || size > maxBytes) lines.pop();
    return { lines: lines.filter((l) => l.trim() !== ''), complete: complete && size <= maxBytes };
  }

  /** Uploads with byte progress (fetch has no upload progress; XMLHttpRequest does). */
  upload(file: File, purpose: string, onProgress: (sent: number, total: number) => void): { done: Promise<FileObject>; abort: () => void } {
    const xhr = new XMLHttpRequest();
    const done = new Promise<FileObject>((resolve, reject) => {
      xhr.open('POST', '/v1/files');
      xhr.setRequestHeader('authorization', `Bearer ${this.key}`);
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) return resolve(JSON.parse(xhr.responseText) as FileObject);
        void errorOf(new Response(xhr.responseText, { status: xhr.status })).then((err) => {
          if (xhr.status === 401) this.onUnauthorized(err);
          reject(err);
        });
      };
      xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The upload did not reach the server (network error).'));
      xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload cancelled.'));
      const form = new FormData();
      form.append('purpose', purpose);
      form.append('file', file, file.name);
      xhr.send(form);
    });
    return { done, abort: () => xhr.abort() };
  }

  /**
   * Follows GET /v1/batch/jobs/{id}/events (server-sent events) with fetch, which can send the
   * key as a header where EventSource cannot. Calls `onJob` for every event; resolves when the
   * server ends the stream (after a terminal status) or `signal` aborts.
   */
  async followJob(id: string, onJob: (job: Job) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(`/v1/batch/jobs/${encodeURIComponent(id)}/events`, { headers: this.headers({ accept: 'text/event-stream' }), signal });
    if (!res.ok || !res.body) {
      const err = await errorOf(res);
      if (res.status === 401) this.onUnauthorized(err);
      throw err;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += value;
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = val;
          else if (field === 'data') data += (data ? '\n' : '') + val;
        }
        if (event === 'job' && data) onJob(JSON.parse(data) as Job);
      }
    }
  }
}
