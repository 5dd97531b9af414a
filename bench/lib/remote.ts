/**
 * `--url` mode: the gateway is already running (maybe on another machine) and the bench
 * only connects to it. This module turns the options into a Remote: the URL split into
 * host, port and path, and the credentials — either an HS256 secret to sign one token per
 * user, or a file of ready-made tokens (one per line, one per connection, each user once).
 * Every problem is an error that names the option (exit code 2).
 */
import { readFileSync } from 'node:fs';
import type { Remote } from './targets.js';

export interface RemoteOptions {
  url: string;
  secret: string | null;
  tokenFile: string | null;
  pid: number | null;
}

/** Splits a ws:// URL; wss:// is refused (the generator speaks plain TCP). */
export function parseWsUrl(url: string): { host: string; port: number; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new Error(`--url: not a URL: ${JSON.stringify(url)} (${(err as Error).message})`);
  }
  if (u.protocol === 'wss:') throw new Error('--url: wss:// is not supported (the generator speaks plain TCP); point it at a ws:// listener, e.g. behind the TLS proxy');
  if (u.protocol !== 'ws:') throw new Error(`--url must start with ws://, got ${JSON.stringify(url)}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port ? Number(u.port) : 80, path: `${u.pathname}${u.search}` };
}

/** The `sub` of a compact JWS, without verifying it (the gateway does that). */
export function tokenSubject(token: string, line: number): string {
  const part = token.split('.')[1];
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
  } catch (err) {
    throw new Error(`--token-file line ${line}: not a JWT (${(err as Error).message})`);
  }
  const sub = (claims as { sub?: unknown } | null)?.sub;
  if (typeof sub !== 'string' || sub === '') throw new Error(`--token-file line ${line}: the token has no "sub" claim`);
  return sub;
}

/** Reads the token file: one token per non-empty line; every user at most once (a second connection of a user would receive its messages twice). */
export function readTokens(file: string): { tokens: string[]; users: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--token-file: cannot read ${file}: ${(err as Error).message}`);
  }
  const tokens: string[] = [];
  const users: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const sub = tokenSubject(t, i + 1);
    const first = seen.get(sub);
    if (first !== undefined) throw new Error(`--token-file line ${i + 1}: user ${JSON.stringify(sub)} already has a token (line ${first})`);
    seen.set(sub, i + 1);
    tokens.push(t);
    users.push(sub);
  });
  if (tokens.length === 0) throw new Error(`--token-file: no tokens in ${file}`);
  return { tokens, users };
}

/** The Remote for these options; `needed` is the most connections a scenario will open (tokens must cover them). */
export function loadRemote(o: RemoteOptions, needed: number): Remote {
  const { host, port, path } = parseWsUrl(o.url);
  if ((o.secret === null) === (o.tokenFile === null)) throw new Error('--url needs exactly one of --secret or --token-file');
  if (o.tokenFile === null) return { url: o.url, host, port, path, pid: o.pid, secret: o.secret, tokens: null, users: null };
  const { tokens, users } = readTokens(o.tokenFile);
  if (tokens.length < needed) {
    throw new Error(`--token-file has ${tokens.length} tokens but the run opens up to ${needed} connections (lower --connections / --max-connections)`);
  }
  return { url: o.url, host, port, path, pid: o.pid, secret: null, tokens, users };
}
