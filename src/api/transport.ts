import http, { type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyHttpOptions, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Limits } from '../config.js';
import { apiError, type ApiError } from '../errors.js';

/**
 * Connection-level bounds, so that no client holds a connection, a file descriptor or a
 * body it never finishes:
 * - headers must arrive within headersTimeoutMs (Node's own timer, checked every second);
 * - an idle keep-alive connection is closed after keepAliveTimeoutMs;
 * - a JSON body must arrive within requestTimeoutMs of its headers, and an upload may
 *   take as long as it needs as long as it keeps minUploadBytesPerSec over every
 *   uploadRateWindowMs (a 512 MB file over a slow link is legitimate, a trickle is not);
 * - a response sent before its request's body was read (an early 401, 413, 415, or one
 *   of the cuts above) carries `Connection: close`, so the rest of that body is never read;
 * - at most maxConnections sockets are open; the next ones are dropped at accept.
 * Requests cut here get the API's error body when the client still listens.
 */

/** Fastify options for the timeouts and for error bodies written below Fastify (408, 431, 400). */
export function transportOptions(limits: Limits): Partial<FastifyHttpOptions<Server>> {
  return {
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node's requestTimeout would cut long uploads too: bodies are timed per route below instead.
    requestTimeout: 0,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: 0,
      // Node checks header deadlines on this interval (30 s by default, which would double a short timeout).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4) || 1000)),
    },
    // Our own 503 in the API's error shape (see registerTransportHooks), not Fastify's body.
    return503OnClosing: false,
    clientErrorHandler: clientErrorHandler(limits),
  };
}

/** Node's parser and header timer fail a connection before Fastify sees a request: answer in the API's shape, then close. */
function clientErrorHandler(limits: Limits) {
  return function (this: FastifyInstance, err: Error & { code?: string }, socket: Socket) {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let apiErr: ApiError;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      apiErr = apiError('request_timeout', `The request headers did not arrive within ${limits.headersTimeoutMs} ms (BATCHD_HEADERS_TIMEOUT_MS).`);
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      apiErr = apiError('headers_too_large', `The request headers exceed ${http.maxHeaderSize} bytes.`);
    } else {
      apiErr = apiError('malformed_request', `Malformed HTTP request (${err.code ?? 'parse error'}).`);
    }
    this.log.debug({ err }, 'client error');
    if (!socket.writable) return void socket.destroy();
    const body = JSON.stringify(apiErr.toBody());
    const head = `HTTP/1.1 ${apiErr.status} ${http.STATUS_CODES[apiErr.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
    socket.end(head + body, () => socket.destroy());
  };
}

/** A request cut by a timer here: the error its response must carry, whatever the body reader then throws. */
const cuts = new WeakMap<FastifyRequest, ApiError>();

export function cutError(req: FastifyRequest): ApiError | undefined {
  return cuts.get(req);
}

/** Hooks for body timing, early-response connection closing, and a 503 in the API's shape while closing. */
export function registerTransportHooks(app: FastifyInstance, limits: Limits, isUpload: (req: FastifyRequest) => boolean) {
  if (limits.maxConnections > 0) app.server.maxConnections = limits.maxConnections;
  logDroppedConnections(app);
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  closeConnectionsWhenDone(app.server, () => closing);

  app.addHook('onRequest', async (req, reply) => {
    if (closing) throw apiError('server_closing', 'The server is shutting down; retry the request on another node or shortly.');
    if (!hasBody(req) || req.raw.complete) return;
    const stop = isUpload(req) ? watchUploadRate(req, reply, limits) : watchBodyTime(req, reply, limits);
    if (stop) reply.raw.once('close', stop);
  });

  // Answering before the body is read (401, 413, 415, a cut): closing beats reading the rest of a body nobody wants.
  app.addHook('onSend', async (req, reply) => {
    if (!req.raw.complete) reply.header('connection', 'close');
  });
}

const hasBody = (req: FastifyRequest) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/** A non-upload body must be complete within requestTimeoutMs of the headers. */
function watchBodyTime(req: FastifyRequest, reply: FastifyReply, limits: Limits): (() => void) | null {
  if (limits.requestTimeoutMs <= 0) return null;
  const timer = setTimeout(() => {
    if (req.raw.complete) return;
    cut(req, reply, apiError('request_timeout', `The request body did not arrive within ${limits.requestTimeoutMs} ms (BATCHD_REQUEST_TIMEOUT_MS).`));
  }, limits.requestTimeoutMs);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * An upload must bring minUploadBytesPerSec on average over each uploadRateWindowMs. A
 * window in which the server itself held the body back (bytes waiting unread in the
 * request stream: validation or storage slower than the client) does not count.
 */
function watchUploadRate(req: FastifyRequest, reply: FastifyReply, limits: Limits): (() => void) | null {
  if (limits.minUploadBytesPerSec <= 0) return null;
  const socket = req.raw.socket;
  const windowMs = limits.uploadRateWindowMs;
  const need = Math.ceil((limits.minUploadBytesPerSec * windowMs) / 1000);
  let seen = socket.bytesRead;
  const timer = setInterval(() => {
    const got = socket.bytesRead - seen;
    seen = socket.bytesRead;
    if (req.raw.complete || got >= need || req.raw.readableLength > 0) return;
    clearInterval(timer);
    cut(
      req,
      reply,
      apiError(
        'upload_too_slow',
        `The upload sent ${got} bytes in the last ${windowMs} ms, under the minimum of ${limits.minUploadBytesPerSec} bytes/s (BATCHD_MIN_UPLOAD_BYTES_PER_SEC, averaged over BATCHD_UPLOAD_RATE_WINDOW_MS); nothing was stored.`,
      ),
    );
  }, windowMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Fails the request's body with `err`. Whatever reads the body (Fastify's JSON reader,
 * the multipart parser feeding an upload) listens for errors on the request stream: it
 * stops, the upload's staged blob is thrown away, and the error handler answers with
 * `err` (see cutError) and `Connection: close`. Before any reader is attached, the
 * answer goes out directly.
 */
function cut(req: FastifyRequest, reply: FastifyReply, err: ApiError) {
  cuts.set(req, err);
  req.log.info({ code: err.code }, 'request cut');
  if (req.raw.listenerCount('error') > 0) req.raw.emit('error', err);
  else if (!reply.sent) void reply.send(err);
}

/**
 * While shutting down, a connection is closed as soon as its response is finished. Node's
 * server.close() closes only the connections idle at that instant, once: a response whose
 * last bytes were already written but which had not yet ended (a download streams its file
 * and ends a tick after the last chunk, while a client satisfied by Content-Length already
 * has everything) would otherwise stay open until the keep-alive timeout.
 */
function closeConnectionsWhenDone(server: Server, closing: () => boolean) {
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    res.once('finish', () => {
      if (closing() && !socket.destroyed) socket.end(() => socket.destroy());
    });
  });
}

/** Connections refused at the cap are counted and reported at most every 10 s, not once each. */
function logDroppedConnections(app: FastifyInstance) {
  let dropped = 0;
  let timer: NodeJS.Timeout | null = null;
  app.server.on('drop', () => {
    dropped++;
    if (timer) return;
    timer = setTimeout(() => {
      app.log.warn({ dropped, maxConnections: app.server.maxConnections }, 'connections refused at BATCHD_MAX_CONNECTIONS');
      dropped = 0;
      timer = null;
    }, 10_000);
    timer.unref();
  });
}
