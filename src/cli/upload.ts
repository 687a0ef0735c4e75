import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError } from './cli-error.js';

/**
 * POSTs `file` as multipart/form-data (`purpose`, then the `file` part) streamed from
 * disk in 1 MiB reads, so memory stays bounded whatever the file's size, and reports
 * the file bytes handed to the socket (backpressure keeps that close to what was sent).
 *
 * Written on node:http rather than fetch + FormData because fetch cannot report upload
 * progress. The server may answer before the body has arrived (a wrong key, a quota, an
 * invalid line found early) and close the connection: the answer wins over the write
 * error that closing causes.
 */
export function uploadMultipart(
  url: string,
  headers: Record<string, string>,
  file: string,
  purpose: string,
  onBytes: (sent: number) => void,
): Promise<{ status: number; body: string }> {
  let size: number;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new CliError(`cannot upload ${file}: not a regular file`);
    size = stat.size;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const boundary = `----batchd-cli-${randomBytes(12).toString('hex')}`;
  const filename = path.basename(file).replace(/["\r\n\\]/g, '_');
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n${purpose}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;

  return new Promise((resolve, reject) => {
    let answered = false;
    const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    const req = transport.request(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + size + tail.length },
    });
    req.on('response', (res) => {
      answered = true;
      source.destroy();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    let sent = 0;
    source.on('data', (chunk) => {
      sent += chunk.length;
      onBytes(sent);
    });
    source.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return;
      req.destroy();
      reject(new CliError(`cannot read ${file}: ${err.code ?? err.message}`));
    });
    source.on('end', () => req.end(tail));
    req.write(head);
    source.pipe(req, { end: false });
  });
}
