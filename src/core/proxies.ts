import { BlockList, isIP } from 'node:net';

/**
 * Http.TrustedProxies: which TCP peers may tell the gateway who the client is. Behind
 * a load balancer every connection comes from the balancer's address, so the per-IP
 * limits (Limits.MaxConnPerIp, UpgradesPerSecondPerIp) would count the balancer, not
 * the clients. When the peer is trusted, the client address is taken from
 * `X-Forwarded-For` — the right-most entry that is not itself a trusted proxy, since
 * everything left of it was written by parties we do not trust — or else from
 * `X-Real-IP`. From any other peer both headers are ignored: a client can write them
 * too. An empty list trusts nobody (the default).
 *
 * Entries are addresses (`10.0.0.7`, `::1`) or CIDR blocks (`10.0.0.0/8`, `fd00::/8`);
 * an IPv4 address seen as IPv4-mapped IPv6 (`::ffff:10.0.0.7`) is matched as IPv4.
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #count: number;

  /** `entries` were checked by the config loader (isAddressOrCidr). */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const parsed = parseEntry(entry);
      if (parsed === undefined) throw new Error(`invalid trusted proxy ${JSON.stringify(entry)}`);
      if (parsed.prefix === undefined) this.#list.addAddress(parsed.address, parsed.family);
      else this.#list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.#count = entries.length;
  }

  /** Whether `address` (a peer or a forwarded entry) is a trusted proxy. */
  trusts(address: string): boolean {
    if (this.#count === 0) return false;
    const plain = normalizeAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.#list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client's address for a request from `peer` with these header values ('' when
   * absent). Always a valid IP address in normalized form: a garbled header from a
   * trusted proxy falls back to the peer rather than to attacker-chosen text.
   */
  clientAddress(peer: string, forwardedFor: string, realIp: string): string {
    const direct = normalizeAddress(peer);
    if (!this.trusts(direct)) return direct;
    if (forwardedFor !== '') {
      const hops = forwardedFor.split(',');
      let nearest = direct;
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = normalizeAddress(stripPort(hops[i]!.trim()));
        if (isIP(hop) === 0) return nearest; // garbage written by a trusted hop: stop at the last good one
        if (!this.trusts(hop)) return hop;
        nearest = hop;
      }
      return nearest; // every hop was a trusted proxy: the left-most is the best we know
    }
    const real = normalizeAddress(stripPort(realIp.trim()));
    return isIP(real) !== 0 ? real : direct;
  }
}

/** Whether a TrustedProxies entry is an IPv4/IPv6 address or CIDR block (config checks call this). */
export function isAddressOrCidr(entry: string): boolean {
  return parseEntry(entry) !== undefined;
}

function parseEntry(entry: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number | undefined } | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  if (extra !== undefined) return undefined;
  const plain = normalizeAddress(address);
  const family = isIP(plain);
  if (family === 0) return undefined;
  if (prefixText === undefined) return { address: plain, family: family === 4 ? 'ipv4' : 'ipv6', prefix: undefined };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address: plain, family: family === 4 ? 'ipv4' : 'ipv6', prefix };
}

/**
 * One spelling per address, so per-IP counts cannot be dodged by writing an address
 * another way: IPv6 in its canonical compressed lower-case form (uWS reports the full
 * eight groups, X-Forwarded-For usually the short form), IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, `0:0:0:0:0:ffff:102:304`) as plain IPv4. Anything that is not an
 * address is returned as is (callers check with isIP).
 */
export function normalizeAddress(address: string): string {
  let a = address.trim().toLowerCase();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (isIP(a) !== 6) return a;
  let canonical: string;
  try {
    canonical = new URL(`http://[${a}]/`).hostname.slice(1, -1);
  } catch (err) {
    if (err instanceof TypeError) return a;
    throw err;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** `1.2.3.4:5678` → `1.2.3.4`; `[::1]:80` → `::1`; bare IPv6 is left alone. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed !== null) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return v4 !== null ? v4[1]! : hop;
}
