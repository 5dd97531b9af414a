import { connect } from 'node:net';
import { pack } from 'msgpackr';
import { unpackWire } from './client.js';

export const API_KEY = 'test-api-key-0123456789abcdef';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
}

export interface CallOptions {
  /** JSON-encoded unless `raw` is given. */
  body?: unknown;
  raw?: string | Uint8Array;
  /** The API key, sent as Bearer; null sends none. */
  key?: string | null;
  headers?: Record<string, string>;
  /** Send the body as MessagePack and ask for MessagePack back. */
  msgpack?: boolean;
}

/** One HTTP API call over a real socket (fetch); parses JSON or MessagePack answers. */
export async function call(baseUrl: string, method: string, path: string, opts: CallOptions = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? API_KEY : opts.key;
  if (key !== null && headers['x-api-key'] === undefined) headers['authorization'] = `Bearer ${key}`;
  let body: string | Uint8Array | undefined = opts.raw;
  if (body === undefined && opts.body !== undefined) body = opts.msgpack === true ? pack(opts.body) : JSON.stringify(opts.body);
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = opts.msgpack === true ? 'application/msgpack' : 'application/json';
  if (opts.msgpack === true) headers['accept'] = 'application/msgpack';
  const res = await fetch(baseUrl + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  let parsed: unknown;
  if (bytes.length === 0) parsed = undefined;
  else if (type === 'application/msgpack') parsed = unpackWire(bytes);
  else parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * Sends request headers (and optionally part of a body) over a raw TCP socket and
 * resolves with the status line and everything received, once the server answered;
 * `written` says how many body bytes had been sent by then. The rest of the body is
 * never sent unless the server stays silent.
 */
export function rawRequest(
  port: number,
  head: string,
  bodyChunks: Buffer[] = [],
  chunkDelayMs = 0,
  timeoutMs = 5_000,
): Promise<{ statusLine: string; text: string; written: number; total: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let written = 0;
    const total = bodyChunks.reduce((n, c) => n + c.length, 0);
    let answered = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms (sent ${written} of ${total} body bytes)`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!answered && text.includes('\r\n\r\n')) {
        answered = true;
        // Give the body a moment to arrive in the same read, then report.
        setTimeout(() => {
          clearTimeout(timer);
          socket.destroy();
          resolve({ statusLine: text.split('\r\n', 1)[0]!, text, written, total });
        }, 50);
      }
    });
    socket.on('error', (err) => {
      if (!answered) reject(err);
    });
    socket.on('connect', async () => {
      socket.write(head);
      for (const chunk of bodyChunks) {
        if (answered) break;
        if (chunkDelayMs > 0) await new Promise((r) => setTimeout(r, chunkDelayMs));
        if (answered || socket.destroyed) break;
        socket.write(chunk);
        written += chunk.length;
      }
    });
  });
}
