import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export interface RecordingProxy {
  url: string;
  /** "METHOD /path?query" of every request, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A real HTTP proxy in front of a batchd that records every request and streams every
 * answer through as it arrives (server-sent events included). With `withoutEvents` it
 * answers the job event stream's route with the 404 a server without that route gives,
 * as an older batchd would.
 */
export async function startRecordingProxy(target: string, opts: { withoutEvents?: boolean } = {}): Promise<RecordingProxy> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (opts.withoutEvents && /\/events(\?|$)/.test(req.url ?? '')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'error', message: `No route GET ${req.url}`, type: 'invalid_request_error', param: null, code: 'route_not_found' }));
      return;
    }
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k, v]) => typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)),
    ) as Record<string, string>;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    fetch(`${target}${req.url}`, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
      duplex: 'half',
      signal: abort.signal,
    } as RequestInit)
      .then((upstream) => {
        const out: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) out[k] = v;
        });
        res.writeHead(upstream.status, out);
        if (!upstream.body) return res.end();
        Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream<Uint8Array>)
          .on('error', () => res.destroy())
          .pipe(res);
      })
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
