import dns from 'node:dns';
import net from 'node:net';
import { Agent, buildConnector } from 'undici';
import { forbiddenAddressReason, unbracket } from './ip.js';

/**
 * Outbound requests to URLs that users give (webhooks): they must not reach the
 * server's own network — loopback, private, link-local, unique-local, CGNAT, the cloud
 * metadata address — unless the operator allows it (BATCHD_ALLOW_PRIVATE_WEBHOOKS=1).
 *
 * Two checks, for two moments. `checkOutboundUrl` validates a URL when it is given
 * (scheme, no credentials, no private IP literal, no `localhost`): a clear 4xx at
 * create time. It does not resolve names, since a name's answer can change before
 * the request is sent (DNS rebinding). The guarantee comes from `createOutboundAgent`:
 * its connector checks the literal address or every address the name resolves to at
 * connect time and connects only to an address it checked, so no answer can slip in
 * between the check and the connection. Every connection of the agent goes through it,
 * redirects included.
 */

export class OutboundUrlError extends Error {
  readonly code = 'outbound_url_refused';
  constructor(message: string) {
    super(message);
    this.name = 'OutboundUrlError';
  }
}

export interface OutboundGuardOptions {
  /** Let URLs reach loopback, link-local and private addresses (config.limits.allowPrivateWebhooks). */
  allowPrivate: boolean;
}

const LOCAL_NAMES = /^(localhost|localhost\.localdomain|ip6-localhost|ip6-loopback)\.?$|\.localhost\.?$/i;

/**
 * Create-time validation of a user-given URL; returns it parsed or throws
 * OutboundUrlError saying what to fix. Host names pass unresolved: they are checked
 * again, resolved, when a connection is made.
 */
export function checkOutboundUrl(raw: string, opts: OutboundGuardOptions): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundUrlError(`'${raw.slice(0, 200)}' is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new OutboundUrlError(`URL scheme '${url.protocol.slice(0, -1)}' is not allowed: use http or https`);
  if (url.username || url.password) throw new OutboundUrlError('URLs must not carry credentials (user:password@): send them as a header or a secret instead');
  if (!opts.allowPrivate) {
    const host = unbracket(url.hostname);
    if (LOCAL_NAMES.test(host))
      throw new OutboundUrlError(`URL host '${host}' is this machine; private addresses are refused unless the operator sets BATCHD_ALLOW_PRIVATE_WEBHOOKS=1`);
    if (net.isIP(host)) refuseForbidden(host, host);
  }
  return url;
}

function refuseForbidden(host: string, address: string): void {
  const reason = forbiddenAddressReason(address);
  if (reason) {
    const via = host === address ? '' : ` (resolved from '${host}')`;
    throw new OutboundUrlError(
      `address ${address}${via} is ${reason}; outbound URLs may not reach it unless the operator sets BATCHD_ALLOW_PRIVATE_WEBHOOKS=1`,
    );
  }
}

type LookupAll = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for net.connect that resolves every address of a name and keeps only the
 * allowed ones; net.connect then connects to one of exactly these (with or without
 * happy-eyeballs, which asks for all of them). A name with no allowed address fails
 * the connection with the reason of the first refused one.
 */
export function guardedLookup(resolve: LookupAll = dns.lookup as unknown as LookupAll, allowPrivate = false): net.LookupFunction {
  return ((
    hostname: string,
    options: dns.LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
  ) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '');
      const allowed = allowPrivate ? addresses : addresses.filter((a) => forbiddenAddressReason(a.address) === null);
      if (allowed.length === 0) {
        try {
          refuseForbidden(hostname, addresses[0]?.address ?? hostname);
          throw new OutboundUrlError(`'${hostname}' resolved to no address`);
        } catch (e) {
          return callback(e as NodeJS.ErrnoException, options.all ? [] : '');
        }
      }
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }) as net.LookupFunction;
}

export interface OutboundAgentOptions extends OutboundGuardOptions {
  /** Connect timeout in milliseconds (default 10 s). */
  connectTimeoutMs?: number;
  /** Replaces dns.lookup (tests answer with addresses of their choosing, as a rebinding resolver would). */
  resolve?: LookupAll;
}

/**
 * An undici dispatcher for user-given URLs (`fetch(url, { dispatcher })` or
 * `request(url, { dispatcher })`): every connection it opens is checked at connect
 * time. With `allowPrivate` nothing is refused.
 */
export function createOutboundAgent(opts: OutboundAgentOptions): Agent {
  const connect = buildConnector({ timeout: opts.connectTimeoutMs ?? 10_000, lookup: guardedLookup(opts.resolve, opts.allowPrivate) });
  return new Agent({
    connect: (options, callback) => {
      // net.connect skips `lookup` for an IP literal, so a literal is checked here.
      const host = unbracket(options.hostname);
      if (!opts.allowPrivate && net.isIP(host)) {
        try {
          refuseForbidden(host, host);
        } catch (err) {
          return callback(err as Error, null);
        }
      }
      connect(options, callback);
    },
  });
}
