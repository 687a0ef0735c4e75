import net from 'node:net';

/**
 * IP address parsing and classification shared by the outbound guard (which addresses a
 * user-given URL may reach) and the authentication throttle (which addresses count as
 * one client). Parsed by hand rather than by string prefix so that every spelling of an
 * address (`::ffff:127.0.0.1`, `::FFFF:7f00:1`, `0:0:0:0:0:0:0:1`) classifies alike.
 */

/** An IPv4 address as four octets, or null if `s` is not dotted-quad IPv4. */
export function parseIPv4(s: string): number[] | null {
  if (net.isIPv4(s)) return s.split('.').map(Number);
  return null;
}

/** An IPv6 address as eight 16-bit groups (zone id dropped), or null if `s` is not IPv6. */
export function parseIPv6(s: string): number[] | null {
  const bare = unbracket(s).replace(/%.*$/, '');
  if (!net.isIPv6(bare)) return null;
  let text = bare.toLowerCase();
  // A dotted IPv4 tail (::ffff:1.2.3.4) is two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = parseIPv4(tail[1]!)!;
    text = `${text.slice(0, tail.index)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  if (rest === undefined) return h;
  const r = groups(rest);
  return [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
}

/** `[::1]` (a URL's hostname form) → `::1`. */
export const unbracket = (s: string) => (s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s);

/** The IPv4 address carried inside an IPv6 one that reaches it: IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96) or 6to4 (2002::/16). */
function embeddedIPv4(g: number[]): number[] | null {
  const v4 = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!);
  if (zeros(0, 6) && (g[6] !== 0 || g[7]! > 1)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return null;
}

type Range4 = [prefix: number[], bits: number, reason: string];
type Range6 = [prefix: number[], bits: number, reason: string];

const V4_FORBIDDEN: Range4[] = [
  [[0, 0, 0, 0], 8, 'this-network (0.0.0.0/8)'],
  [[10, 0, 0, 0], 8, 'private (10.0.0.0/8)'],
  [[100, 64, 0, 0], 10, 'carrier-grade NAT (100.64.0.0/10)'],
  [[127, 0, 0, 0], 8, 'loopback (127.0.0.0/8)'],
  [[169, 254, 0, 0], 16, 'link-local, cloud metadata (169.254.0.0/16)'],
  [[172, 16, 0, 0], 12, 'private (172.16.0.0/12)'],
  [[192, 0, 0, 0], 24, 'IETF protocol assignments (192.0.0.0/24)'],
  [[192, 0, 2, 0], 24, 'documentation (192.0.2.0/24)'],
  [[192, 168, 0, 0], 16, 'private (192.168.0.0/16)'],
  [[198, 18, 0, 0], 15, 'benchmarking (198.18.0.0/15)'],
  [[198, 51, 100, 0], 24, 'documentation (198.51.100.0/24)'],
  [[203, 0, 113, 0], 24, 'documentation (203.0.113.0/24)'],
  [[224, 0, 0, 0], 4, 'multicast (224.0.0.0/4)'],
  [[240, 0, 0, 0], 4, 'reserved or broadcast (240.0.0.0/4)'],
];

const V6_FORBIDDEN: Range6[] = [
  [[0, 0, 0, 0, 0, 0, 0, 0], 128, 'unspecified (::)'],
  [[0, 0, 0, 0, 0, 0, 0, 1], 128, 'loopback (::1)'],
  [[0, 0, 0, 0, 0, 0], 96, 'IPv4-compatible (::/96)'],
  [[0x64, 0xff9b, 1], 48, 'local-use NAT64 (64:ff9b:1::/48)'],
  [[0x100, 0, 0, 0], 64, 'discard-only (100::/64)'],
  [[0x2001, 0], 32, 'Teredo (2001::/32)'],
  [[0x2001, 0xdb8], 32, 'documentation (2001:db8::/32)'],
  [[0xfc00], 7, 'unique-local (fc00::/7)'],
  [[0xfe80], 10, 'link-local (fe80::/10)'],
  [[0xfec0], 10, 'site-local (fec0::/10)'],
  [[0xff00], 8, 'multicast (ff00::/8)'],
];

function inRange(addr: number[], prefix: number[], bits: number, width: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= width) {
    const take = Math.min(bits, width);
    const mask = ((1 << take) - 1) << (width - take);
    if (((addr[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

/**
 * Why an address must not be reached by a user-given URL (loopback, private,
 * link-local, unique-local, CGNAT, metadata, multicast, reserved; IPv4 inside IPv6
 * judged as the IPv4 it reaches), or null for a public unicast address. Anything
 * that is not an IP address at all is refused too.
 */
export function forbiddenAddressReason(address: string): string | null {
  const v4 = parseIPv4(unbracket(address));
  if (v4) return V4_FORBIDDEN.find(([p, bits]) => inRange(v4, p, bits, 8))?.[2] ?? null;
  const v6 = parseIPv6(address);
  if (!v6) return 'not an IP address';
  // The mapped and translated forms are judged by the IPv4 address they reach, before
  // the IPv6 ranges (::ffff:0:0/96 would otherwise fall in none of them and pass).
  const inner = embeddedIPv4(v6);
  if (inner) {
    const reason = forbiddenAddressReason(inner.join('.'));
    return reason && `${reason} inside IPv6`;
  }
  return V6_FORBIDDEN.find(([p, bits]) => inRange(v6, p, bits, 16))?.[2] ?? null;
}

/**
 * The address a throttle counts a client under: IPv4 as is (IPv4-mapped IPv6 unwrapped),
 * IPv6 by its /64, since one host is usually given a whole /64 and could otherwise
 * present a fresh address for every request.
 */
export function clientAddressKey(address: string): string {
  const v6 = parseIPv6(address);
  if (!v6) return address;
  if (v6.slice(0, 5).every((x) => x === 0) && v6[5] === 0xffff) return [v6[6]! >> 8, v6[6]! & 0xff, v6[7]! >> 8, v6[7]! & 0xff].join('.');
  return `${v6
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
