import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A bare TCP connection to the server, for what an HTTP client library will not do:
 * announce a body and never send it, trickle bytes, send oversized headers, hold
 * connections open. It records what the server sends and whether the server closed it.
 */
export class RawConnection {
  private data = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private destroyedByUs = false;
  /** True once the server ended or reset the connection. */
  closedByServer = false;
  /** Resolves when the server ends or resets the connection (or it is destroyed here). */
  readonly ended: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.wake();
    });
    socket.on('error', () => undefined);
    this.ended = new Promise((resolve) => {
      const ended = () => {
        if (!this.destroyedByUs) this.closedByServer = true;
        this.wake();
        resolve();
      };
      socket.once('end', ended);
      socket.once('close', ended);
    });
  }

  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: hostname, port: Number(port) }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  write(chunk: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(chunk);
  }

  destroy(): void {
    this.destroyedByUs = true;
    this.socket.destroy();
  }

  /** The first response the server sent, once complete (its Content-Length read), or null if none came in `timeoutMs`. */
  async response(timeoutMs = 10_000): Promise<RawResponse | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.data);
      if (parsed) return parsed;
      if (this.socket.destroyed || Date.now() >= deadline) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Whether the server closed the connection within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return this.closedByServer;
  }

  private wake() {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}

function parseResponse(data: Buffer): RawResponse | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = data.subarray(end + 4);
  if (body.length < length) return null;
  return { status: Number(statusLine!.split(' ')[1]), headers, body: body.subarray(0, length).toString('utf8') };
}

/** Request head text: the request line, a Host header and the given headers. */
export function requestHead(method: string, path: string, headers: Record<string, string | number> = {}): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}
