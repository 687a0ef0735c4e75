import { createHmac, timingSafeEqual } from 'node:crypto';
import { apiError } from '../errors.js';

/**
 * Signed download URLs: an HMAC over (file id, workspace, expiry) with a server secret
 * kept in the store, so any node of a cluster can check a URL another node issued and
 * a signature for one file never opens another.
 */
export class UrlSigner {
  constructor(private readonly secret: string) {}

  sign(fileId: string, workspace: string, expiresAt: number): string {
    return createHmac('sha256', this.secret).update(`${fileId}\n${workspace}\n${expiresAt}`).digest('hex');
  }

  verify(fileId: string, workspace: string, expiresAt: number, signature: string): boolean {
    const expected = Buffer.from(this.sign(fileId, workspace, expiresAt), 'hex');
    const given = Buffer.from(signature, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/**
 * Where a signed URL points. `--public-url` (BATCHD_PUBLIC_URL) when set; otherwise the
 * request's own Host header, which the client chooses: a caller could have a URL minted
 * for a host it controls and hand that link to someone else. So when BATCHD_TRUSTED_HOSTS
 * lists hosts, a Host outside the list gets a 400 instead of a URL. An entry without a
 * port matches the host on any port.
 */
export function signedUrlBase(publicUrl: string | null, trustedHosts: string[], protocol: string, host: string): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const given = host.toLowerCase();
  const hostname = given.replace(/:\d+$/, '');
  if (trustedHosts.length > 0 && !trustedHosts.includes(given) && !trustedHosts.includes(hostname)) {
    throw apiError(
      'untrusted_host',
      `Cannot build a signed URL for Host '${host}': it is not in BATCHD_TRUSTED_HOSTS. The operator should set --public-url (BATCHD_PUBLIC_URL) or add this host to BATCHD_TRUSTED_HOSTS.`,
      { param: 'Host' },
    );
  }
  return `${protocol}://${host}`;
}
