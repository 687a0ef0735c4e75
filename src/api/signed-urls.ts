import { createHmac, timingSafeEqual } from 'node:crypto';

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
