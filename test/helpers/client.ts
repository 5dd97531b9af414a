import WebSocket from 'ws';
import { pack, Unpackr, type Options } from 'msgpackr';

/**
 * Decodes server MessagePack as a JavaScript client would want it: the gateway writes
 * every integer as a MessagePack integer (timestamps as uint64), which msgpackr's
 * default decoder turns into bigint; 'auto' gives numbers while they are safe.
 * ('auto' exists in msgpackr 2.x but not in its type declarations.)
 */
const wire = new Unpackr({ mapsAsObjects: true, int64AsType: 'auto' } as unknown as Options);
export function unpackWire(bytes: Uint8Array): unknown {
  return wire.unpack(bytes);
}

export type Frame = { type: string; id?: string; data?: any };
export type Format = 'json' | 'msgpack';

export interface ConnectOptions {
  token?: string;
  /** How the token travels: the Authorization header (default) or the `token` query parameter. */
  via?: 'header' | 'query';
  format?: Format;
  /** Negotiate the format by subprotocol (default) or by `?format=`. */
  negotiate?: 'protocol' | 'query';
  wsOptions?: WebSocket.ClientOptions;
}

/**
 * How long a test waits for a reply or a frame by default. Generous: waits end on the
 * event, so a passing test never sits through it, while CI with two test jobs on two
 * loaded cores has been seen to take over 5 s for a reply.
 */
const WAIT_MS = 15_000;

/**
 * A test client over a real socket: keeps every frame it receives, and lets a test
 * wait for the next one matching a predicate (with a timeout, never a sleep).
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #cursor = 0;
  #nextId = 0;
  /** Ids unique across clients: the gateway takes a frame resent by a user with the same id (and content) for a resend. */
  readonly #idPrefix = `r${Math.random().toString(36).slice(2, 8)}-`;

  private constructor(readonly ws: WebSocket, readonly format: Format) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = (isBinary ? unpackWire(data) : JSON.parse(data.toString('utf8'))) as Frame;
      this.frames.push(frame);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
  }

  static connect(url: string, opts: ConnectOptions = {}): Promise<TestClient> {
    const format = opts.format ?? 'json';
    const target = new URL(url);
    const headers: Record<string, string> = {};
    if (opts.token !== undefined) {
      if (opts.via === 'query') target.searchParams.set('token', opts.token);
      else headers['authorization'] = `Bearer ${opts.token}`;
    }
    let protocols: string[] | undefined;
    if (opts.negotiate === 'query') target.searchParams.set('format', format);
    else protocols = [format];
    const ws = new WebSocket(target, protocols, { headers, ...opts.wsOptions });
    const client = new TestClient(ws, format);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  /** Sends a frame in this client's format (or `as` the other one). */
  send(frame: Frame, as: Format = this.format): void {
    if (as === 'msgpack') this.ws.send(pack(frame), { binary: true });
    else this.ws.send(JSON.stringify(frame), { binary: false });
  }

  sendRaw(data: Buffer | string, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** Sends a frame with a fresh id and waits for the reply carrying that id. */
  async request(frame: Frame, timeoutMs = WAIT_MS): Promise<Frame> {
    const id = frame.id ?? `${this.#idPrefix}${++this.#nextId}`;
    const reply = this.waitFor((f) => f.id === id, timeoutMs, `reply to ${frame.type} ${id}`);
    this.send({ ...frame, id });
    return reply;
  }

  /**
   * Resolves with the first received frame (from the start of the connection, not yet
   * consumed by an earlier `next`) that matches; waits up to timeoutMs for it.
   */
  next(match: (f: Frame) => boolean = () => true, timeoutMs = WAIT_MS, what = 'frame'): Promise<Frame> {
    for (let i = this.#cursor; i < this.frames.length; i++) {
      const f = this.frames[i]!;
      if (match(f)) {
        this.frames.splice(i, 1);
        return Promise.resolve(f);
      }
    }
    return this.waitFor(match, timeoutMs, what).then((f) => {
      const i = this.frames.indexOf(f);
      if (i >= 0) this.frames.splice(i, 1);
      return f;
    });
  }

  /** Waits for a frame that arrives from now on. */
  waitFor(match: (f: Frame) => boolean, timeoutMs = WAIT_MS, what = 'frame'): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        // The last frames that did arrive: a failed run on a loaded CI machine then tells
        // "nothing came" from "something else came".
        const seen = JSON.stringify(this.frames.slice(-5)).slice(0, 400);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last frames received: ${seen}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Frames of a type received so far and not consumed. */
  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
    return this.closed;
  }
}

/** Attempts an upgrade expected to fail; resolves with the HTTP status and parsed JSON body. */
export async function expectRefused(url: string, opts: ConnectOptions = {}): Promise<{ status: number; body: any }> {
  try {
    const client = await TestClient.connect(url, opts);
    await client.close();
  } catch (err) {
    const e = err as { status?: number; body?: string };
    if (e.status === undefined) throw err;
    return { status: e.status, body: e.body ? JSON.parse(e.body) : undefined };
  }
  throw new Error('upgrade was accepted but should have been refused');
}
