import type { FastifyRequest } from 'fastify';

/** A signed URL's query string is its credential: access logs show it as `signature=[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]signature=)[^&#]*/gi, '$1[redacted]');
}

/** Fastify's request serializer minus the credential in signed URLs. */
export const requestSerializers = {
  req(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
    return { method: req.method, url: redactUrl(req.url ?? ''), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
  },
};

/**
 * The client went away before its answer (an upload or a generation aborted): there is
 * nobody to answer, and it is not the server's failure. Logged as nginx's 499.
 */
export function clientClosed(req: FastifyRequest): boolean {
  return req.raw.aborted || req.raw.socket?.destroyed === true;
}

/** Status logged (and set, for the access log) for a request whose client closed the connection first. */
export const CLIENT_CLOSED_REQUEST = 499;
