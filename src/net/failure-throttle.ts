import { createHash } from 'node:crypto';
import { clientAddressKey } from './ip.js';

export interface FailureThrottleOptions {
  /** Failures allowed per address per minute, as a burst and as a steady rate; 0 = no throttle. */
  perMinute: number;
  /** Milliseconds since the epoch (the server's clock). */
  now: () => number;
  /** Addresses tracked at once; the least recently failing one is forgotten beyond it. */
  maxAddresses?: number;
  /** (address, credential) pairs remembered as having succeeded; the least recently used is forgotten beyond it. */
  maxTrusted?: number;
  /** How long a success keeps its credential usable from its address while that address is throttled. */
  trustMs?: number;
}

/** An authentication under way: report how it ended. */
export interface AuthAttempt {
  succeeded(): void;
  failed(): void;
  /** The check could not be made (the store failed): the held failure is given back. */
  abandoned(): void;
}

const NO_THROTTLE: AuthAttempt = { succeeded: () => undefined, failed: () => undefined, abandoned: () => undefined };

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Throttles failed authentications per client address (IPv6 per /64) with a token
 * bucket: `perMinute` failures at once, then one more every 60/perMinute seconds.
 *
 * Once an address is out of tokens its unknown credentials are refused without being
 * checked, so guessing is held to that rate; each check holds a token while it runs, so
 * concurrent guesses are held to it too. A credential that has already succeeded
 * from that address stays usable: clients sharing an address (a NAT, or every client
 * behind a reverse proxy, since the server sees the proxy's address) are not locked out
 * by one of them guessing, and the guesser learns nothing, since only a credential it
 * already knows passes. Other addresses are never affected.
 *
 * Memory is bounded: at most `maxAddresses` buckets (an address whose bucket has
 * refilled is dropped, and beyond the cap the least recently failing one), and at most
 * `maxTrusted` remembered successes, stored as hashes.
 */
export class FailureThrottle {
  private readonly buckets = new Map<string, Bucket>();
  private readonly trusted = new Map<string, number>();
  private readonly maxAddresses: number;
  private readonly maxTrusted: number;
  private readonly trustMs: number;
  private readonly refillMs: number;

  constructor(private readonly opts: FailureThrottleOptions) {
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.maxTrusted = opts.maxTrusted ?? 10_000;
    this.trustMs = opts.trustMs ?? 24 * 60 * 60_000;
    this.refillMs = opts.perMinute > 0 ? 60_000 / opts.perMinute : 0;
  }

  get enabled(): boolean {
    return this.opts.perMinute > 0;
  }

  /** Addresses and remembered successes held now (for tests of the memory bound). */
  get size(): { addresses: number; trusted: number } {
    return { addresses: this.buckets.size, trusted: this.trusted.size };
  }

  /**
   * Called before a credential is checked. A number: refused, retry after that many
   * milliseconds. Otherwise the attempt holds one of the address's failures in advance
   * (so concurrent guesses cannot all pass the check before the first is counted) and
   * must be settled with the outcome: a success gives it back. A credential that
   * succeeded from this address before needs no failure in hand and is never refused.
   */
  begin(address: string, credential: string): AuthAttempt | number {
    if (!this.enabled) return NO_THROTTLE;
    const addressKey = clientAddressKey(address);
    const trustKey = this.trustKey(addressKey, credential);
    const trustedAt = this.trusted.get(trustKey);
    const trusted = trustedAt !== undefined && this.opts.now() - trustedAt < this.trustMs;
    if (!trusted) {
      const bucket = this.refill(addressKey);
      if (bucket && bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) * this.refillMs);
      this.take(addressKey, bucket);
    }
    return {
      succeeded: () => {
        if (!trusted) this.giveBack(addressKey);
        this.trust(trustKey);
      },
      failed: () => {
        // A remembered credential that fails now (revoked) counts like any other.
        if (trusted) {
          this.trusted.delete(trustKey);
          this.take(addressKey, this.refill(addressKey));
        }
      },
      abandoned: () => {
        if (!trusted) this.giveBack(addressKey);
      },
    };
  }

  private take(addressKey: string, bucket: Bucket | null): void {
    const b = bucket ?? { tokens: this.opts.perMinute, at: this.opts.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    // Re-inserted so the map's order is least recently failing first.
    this.buckets.delete(addressKey);
    this.buckets.set(addressKey, b);
    this.expire();
    while (this.buckets.size > this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
  }

  private giveBack(addressKey: string): void {
    const bucket = this.refill(addressKey);
    if (!bucket) return;
    bucket.tokens += 1;
    if (bucket.tokens >= this.opts.perMinute) this.buckets.delete(addressKey);
  }

  private trust(trustKey: string): void {
    this.trusted.delete(trustKey);
    this.trusted.set(trustKey, this.opts.now());
    this.expire();
    while (this.trusted.size > this.maxTrusted) this.trusted.delete(this.trusted.keys().next().value!);
  }

  /**
   * Drops entries from the old end of each map while they are stale: a bucket untouched
   * for a minute has refilled, a success older than trustMs no longer counts. Amortised
   * O(1), so idle addresses leave even when the caps are never reached.
   */
  private expire(): void {
    const now = this.opts.now();
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.at < 60_000) break;
      this.buckets.delete(key);
    }
    for (const [key, at] of this.trusted) {
      if (now - at < this.trustMs) break;
      this.trusted.delete(key);
    }
  }

  /** The bucket of `key` brought up to now; null (and dropped) once it is full again. */
  private refill(key: string): Bucket | null {
    const bucket = this.buckets.get(key);
    if (!bucket) return null;
    const now = this.opts.now();
    bucket.tokens = Math.min(this.opts.perMinute, bucket.tokens + (now - bucket.at) / this.refillMs);
    bucket.at = now;
    if (bucket.tokens >= this.opts.perMinute) {
      this.buckets.delete(key);
      return null;
    }
    return bucket;
  }

  private trustKey(addressKey: string, credential: string): string {
    return `${addressKey} ${createHash('sha256').update(credential).digest('base64url')}`;
  }
}
