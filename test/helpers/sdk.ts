import { createServer } from 'node:net';
import WebSocket from 'ws';
import { connect, type Client, type ClientEvents, type ConnectOptions, type WebSocketConstructor } from 'switchboard/client';

/**
 * The SDK as an application uses it, from the compiled `switchboard/client` (npm test
 * builds it first), over Node's `ws`. Every client is closed at teardown.
 */
export function sdk(t: { teardown(fn: () => unknown): void }, opts: Omit<ConnectOptions, 'WebSocket'>): Recorder {
  const client = connect({ WebSocket: WebSocket as unknown as WebSocketConstructor, ...opts });
  t.teardown(() => client.close());
  return new Recorder(client);
}

type Entry = { [K in keyof ClientEvents]: { event: K; data: ClientEvents[K]; at: number } }[keyof ClientEvents];

/** Records every event of a client and lets a test wait for one (with a timeout, never a sleep). */
export class Recorder {
  readonly log: Entry[] = [];
  #waiters: { match: (e: Entry) => boolean; resolve: (e: Entry) => void }[] = [];

  constructor(readonly client: Client) {
    const names: (keyof ClientEvents)[] = ['message', 'group', 'broadcast', 'status', 'member', 'receipt', 'sync', 'connected', 'disconnected', 'reconnecting', 'error'];
    for (const event of names) {
      client.on(event, (data: unknown) => {
        const entry = { event, data, at: Date.now() } as Entry;
        this.log.push(entry);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.match(entry)) return true;
          w.resolve(entry);
          return false;
        });
      });
    }
  }

  events<K extends keyof ClientEvents>(event: K): ClientEvents[K][] {
    return this.log.filter((e) => e.event === event).map((e) => e.data as ClientEvents[K]);
  }

  /** The next (or an already recorded, from index `from`) event `event` whose data matches. */
  next<K extends keyof ClientEvents>(event: K, match: (data: ClientEvents[K]) => boolean = () => true, timeoutMs = 10_000, from = this.log.length): Promise<ClientEvents[K]> {
    const fits = (e: Entry): boolean => e.event === event && match(e.data as ClientEvents[K]);
    const seen = this.log.slice(from).find(fits);
    if (seen !== undefined) return Promise.resolve(seen.data as ClientEvents[K]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${String(event)}' event within ${timeoutMs} ms; saw: ${this.log.map((e) => e.event).join(',')}`)), timeoutMs);
      this.#waiters.push({ match: fits, resolve: (e) => { clearTimeout(timer); resolve(e.data as ClientEvents[K]); } });
    });
  }
}

/** A TCP port free right now (for a gateway that must come back on the same address). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves when `check()` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
