/** Loopback helpers: free ports, source addresses, HTTP probes. Everything here targets 127.0.0.0/8 only. */
import { createServer } from 'node:net';
import { request } from 'node:http';

/** A TCP port free on 127.0.0.1 right now (the OS picks it; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

let nextSource = 0;

/**
 * A fresh loopback source address for a generator process (127.77.x.y). Each address
 * has its own ~28k ephemeral ports, and a fresh one per process and per scenario means
 * sockets left in TIME_WAIT by an earlier phase never block a later one.
 */
export function nextSourceAddress(): string {
  const k = nextSource++;
  const third = Math.floor(k / 250) % 250;
  return `127.77.${third}.${(k % 250) + 2}`;
}

export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === 'localhost' || host === '::1';
}

export function assertLoopback(host: string): void {
  if (!isLoopback(host)) {
    throw new Error(`bench targets loopback only, refused host ${host}`);
  }
}

export interface HttpReply {
  status: number;
  body: string;
}

/** One HTTP request to a loopback server; rejects on network errors and after `timeoutMs`. */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpReply> {
  const u = new URL(url);
  assertLoopback(u.hostname);
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? 2000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 2000} ms: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Polls `url` until it answers 200. Stops early (rejecting) when `gone()` returns a
 * reason, e.g. the server process exited, so a crash is reported at once.
 */
export async function waitForHttp200(url: string, timeoutMs: number, gone: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const reason = gone();
    if (reason) throw new Error(reason);
    try {
      const r = await httpRequest(url, { timeoutMs: 1000 });
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
