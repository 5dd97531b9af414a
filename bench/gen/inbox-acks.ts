/** What a recipient's inbox acknowledgement needs of its connection. */
export interface AckingRecipient {
  /** Highest seq received. */
  seq: number;
  /** Highest seq acknowledged. */
  ackedSeq: number;
}

/** Timer functions, injectable so tests can drive time. */
export interface AckTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const NODE_TIMERS: AckTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * When the generator's recipients acknowledge their inbox: as the SDK's receiver does
 * (src/client/receiver.ts), after `every` messages, or `intervalMs` after the first
 * message not yet acknowledged, whichever comes first.
 *
 * The interval is one timer per recipient, armed by that message, so recipients' acks
 * spread over time as real clients' do. One sweep over every recipient at a fixed
 * cadence would send them all in the same instant: a burst of hundreds of acks that no
 * real deployment sees, and that the server under test has to absorb at once.
 */
export class InboxAcks<C extends AckingRecipient> {
  readonly #timers = new Map<C, unknown>();

  constructor(
    private readonly send: (conn: C) => void,
    private readonly every = 32,
    private readonly intervalMs = 250,
    private readonly clock: AckTimers = NODE_TIMERS,
  ) {}

  /** Call after a delivery raised `conn.seq`. */
  received(conn: C): void {
    if (conn.seq - conn.ackedSeq >= this.every) this.ackNow(conn);
    else if (conn.seq > conn.ackedSeq && !this.#timers.has(conn)) {
      this.#timers.set(conn, this.clock.set(() => {
        this.#timers.delete(conn);
        if (conn.seq > conn.ackedSeq) this.ackNow(conn);
      }, this.intervalMs));
    }
  }

  /** Acknowledges everything received so far; the interval starts again with the next message. */
  ackNow(conn: C): void {
    this.forget(conn);
    this.send(conn);
  }

  /** The connection closed: nothing more is acknowledged for it. */
  forget(conn: C): void {
    const handle = this.#timers.get(conn);
    if (handle === undefined) return;
    this.clock.clear(handle);
    this.#timers.delete(conn);
  }

  /** Recipients waiting for their interval (for tests). */
  get waiting(): number {
    return this.#timers.size;
  }
}
