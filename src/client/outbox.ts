import { SwitchboardError } from './errors.js';

/**
 * Frames waiting for the server's answer. Every call of the client API becomes one
 * entry with an id (`<random prefix>-<counter>`, unique per client instance) and stays
 * here until an `ack`/answer or `error` with that id settles it, also across
 * reconnects: an entry whose answer was lost with the socket is written again with the
 * same id, so the gateway's de-duplication of resends keeps the retry from delivering
 * twice.
 *
 * Bounds, so that nothing is dropped silently: at most `maxCount` entries (a call
 * beyond that is rejected with `OUTBOX_FULL` at once); an entry unanswered `maxAge` ms
 * after the call is rejected with `OUTBOX_EXPIRED`; one written and unanswered for
 * `timeout` ms on a live socket is rejected with `TIMEOUT`.
 */
export interface OutboxOptions {
  maxCount: number;
  maxAge: number;
  timeout: number;
  now: () => number;
}

export interface Pending {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly createdAt: number;
  /** When it was last written to a socket; undefined while waiting for one. */
  sentAt: number | undefined;
  /** Not before this time (a RATE_LIMITED answer's retryAfterMs). */
  notBefore: number;
  resolve(answer: unknown): void;
  reject(err: SwitchboardError): void;
}

export class Outbox {
  readonly #entries = new Map<string, Pending>();
  readonly #prefix: string;
  #counter = 0;

  constructor(private readonly opts: OutboxOptions, prefix: string) {
    this.#prefix = prefix;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Adds a frame; rejects at once with OUTBOX_FULL when the bound is reached. */
  add(type: string, data: unknown): { entry: Pending | undefined; promise: Promise<unknown> } {
    if (this.#entries.size >= this.opts.maxCount) {
      return {
        entry: undefined,
        promise: Promise.reject(new SwitchboardError('OUTBOX_FULL', `outbox full: ${this.opts.maxCount} frames already wait for an answer`)),
      };
    }
    let entry!: Pending;
    const promise = new Promise<unknown>((resolve, reject) => {
      entry = {
        id: `${this.#prefix}-${(++this.#counter).toString(36)}`,
        type, data, createdAt: this.opts.now(), sentAt: undefined, notBefore: 0,
        resolve: (answer) => {
          this.#entries.delete(entry.id);
          resolve(answer);
        },
        reject: (err) => {
          this.#entries.delete(entry.id);
          reject(err);
        },
      };
    });
    this.#entries.set(entry.id, entry);
    return { entry, promise };
  }

  get(id: string): Pending | undefined {
    return this.#entries.get(id);
  }

  /** Entries not yet written on the current socket (in call order) whose retry time has come. */
  due(now: number): Pending[] {
    const out: Pending[] = [];
    for (const e of this.#entries.values()) if (e.sentAt === undefined && e.notBefore <= now) out.push(e);
    return out;
  }

  /** The socket closed: whatever was on it must be written again on the next one. */
  disconnected(): void {
    for (const e of this.#entries.values()) e.sentAt = undefined;
  }

  /** Rejects what is past its age or wire timeout; returns the earliest time the next check matters. */
  expire(now: number, connected: boolean): void {
    for (const e of [...this.#entries.values()]) {
      if (now - e.createdAt >= this.opts.maxAge) {
        e.reject(new SwitchboardError('OUTBOX_EXPIRED', `no answer to ${e.type} ${e.id} within ${this.opts.maxAge} ms`));
      } else if (connected && e.sentAt !== undefined && now - e.sentAt >= this.opts.timeout) {
        e.reject(new SwitchboardError('TIMEOUT', `no answer to ${e.type} ${e.id} within ${this.opts.timeout} ms`));
      }
    }
  }

  /** Rejects everything (the client closed or stopped for good). */
  rejectAll(err: SwitchboardError): void {
    for (const e of [...this.#entries.values()]) e.reject(err);
  }
}
