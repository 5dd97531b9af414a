/**
 * Http.AllowedOrigins: which web pages may open a WebSocket to the gateway. Browsers
 * send `Origin` on every WebSocket upgrade and let any page connect anywhere, so
 * without this check a page on any site can use a visitor's token (a cookie-carried
 * token or one in the page) against the gateway. Non-browser clients send no Origin
 * and are not affected.
 *
 * An entry is either an exact origin, `scheme://host[:port]` (`https://app.example.com`),
 * or a subdomain pattern `[scheme://]*.domain[:port]` (`*.example.com` matches
 * `https://a.example.com` and `http://a.b.example.com`, not `example.com` itself).
 * Without a scheme a pattern matches http and https; without a port it matches the
 * scheme's default port only. Hosts compare case-insensitively. An empty list allows
 * every origin. The opaque origin `null` (sandboxed frames, file://) matches nothing.
 */

interface Rule {
  /** undefined: http or https. */
  scheme: string | undefined;
  /** Exact host, or the suffix (with its leading dot) for a wildcard. */
  host: string;
  wildcard: boolean;
  /** '' for the scheme's default port. */
  port: string;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/;
const PATTERN = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*\.)?([^/:*?#@\s]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?$/i;

/** Parses one AllowedOrigins entry; undefined when it is not a valid one (config checks call this). */
export function parseOriginRule(entry: string): Rule | undefined {
  const m = PATTERN.exec(entry.trim());
  if (m === null) return undefined;
  const scheme = m[1]?.toLowerCase();
  const wildcard = m[2] !== undefined;
  const host = m[3]!.toLowerCase();
  if (!HOST.test(host)) return undefined;
  if (scheme === undefined && !wildcard) return undefined; // a bare host is ambiguous: name the scheme
  if (wildcard && !host.includes('.') && host !== 'localhost') return undefined; // `*.com` would allow too much
  const port = m[4] ?? '';
  if (port !== '' && (Number(port) < 1 || Number(port) > 65535)) return undefined;
  const schemeKey = scheme === undefined ? undefined : `${scheme}:`;
  const normalizedPort = schemeKey !== undefined && DEFAULT_PORTS[schemeKey] === port ? '' : port;
  return { scheme: schemeKey, host: wildcard ? `.${host}` : host, wildcard, port: normalizedPort };
}

/** Decides whether an `Origin` header value may open a connection. */
export class OriginPolicy {
  readonly #rules: readonly Rule[];

  /** `entries` were checked by the config loader; an invalid one here is a programming error. */
  constructor(entries: readonly string[]) {
    this.#rules = entries.map((entry) => {
      const rule = parseOriginRule(entry);
      if (rule === undefined) throw new Error(`invalid allowed origin ${JSON.stringify(entry)}`);
      return rule;
    });
  }

  /** True when every origin is allowed (an empty list). */
  get open(): boolean {
    return this.#rules.length === 0;
  }

  /** Whether a request with this `Origin` header may connect. An empty header (no Origin: not a browser) always may. */
  allows(origin: string): boolean {
    if (this.#rules.length === 0 || origin === '') return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch (err) {
      if (err instanceof TypeError) return false; // `null` and other non-URLs
      throw err;
    }
    const scheme = url.protocol;
    const host = url.hostname.toLowerCase();
    const port = url.port; // '' when it is the scheme's default
    return this.#rules.some((rule) => {
      if (rule.scheme === undefined ? scheme !== 'http:' && scheme !== 'https:' : rule.scheme !== scheme) return false;
      if (rule.port !== port) return false;
      return rule.wildcard ? host.endsWith(rule.host) && host.length > rule.host.length : host === rule.host;
    });
  }
}
