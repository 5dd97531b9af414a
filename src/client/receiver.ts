/**
 * The receiving side of the durable inbox: drops the redeliveries that at-least-once
 * delivery brings (the replay after a reconnect, a message acknowledged too late) and
 * acknowledges for the application.
 *
 * A direct message is a duplicate when its `mid` was seen (kept for the last
 * `MID_MEMORY` messages), or when it carries a `seq` not above the highest one accepted
 * in the same `epoch` (the gateway's `seq` only grows within an epoch; a new epoch
 * starts the count again). Acknowledgements are cumulative `ack {upTo, epoch}` frames
 * sent after every `ackEvery` messages or `ackInterval` ms, whichever comes first;
 * duplicates are acknowledged too, since the server redelivers until it hears an ack.
 */

const MID_MEMORY = 10_000;

export interface ReceiverOptions {
  ackEvery: number;
  ackInterval: number;
  /** Hands a new message to the application. */
  deliver: (m: InboxMessage) => void;
  /** Sends `sync {after}`; settles after the server replayed what it still holds. */
  sync: (after: number) => Promise<unknown>;
  syncFailed: (after: number, err: { code: string; message: string; details: Record<string, unknown> }) => void;
  /** Writes one ack frame; false when no socket is open (the ack is then redone after the replay). */
  sendAck: (upTo: number, epoch: string | undefined) => boolean;
}

/** The fields of a direct message the receiver reads. */
export interface InboxMessage { mid: string; seq: number; epoch?: string }

export class InboxReceiver {
  /** Messages held behind a seq gap until the `sync` asking for it is answered. */
  #held: InboxMessage[] | undefined;
  #epoch: string | undefined;
  #lastSeq = 0;
  #mids = new Set<string>();
  #midOrder: string[] = [];
  #midHead = 0;
  /** Highest seq (in #ackEpoch) that should be acknowledged, and the highest acknowledged on this socket. */
  #ackUpTo = 0;
  #ackEpoch: string | undefined;
  #sentUpTo = 0;
  #unacked = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: ReceiverOptions) {}

  /**
   * Every direct message from the server, in arrival order. After a seq gap the
   * following messages are held, and nothing past the gap is acknowledged, until a
   * `sync {after}` has asked the server for what is missing; then everything held goes
   * to the application in seq order, duplicates dropped. An acknowledgement past an
   * undelivered message would delete it.
   */
  receive<M extends InboxMessage>(data: M): void {
    if (this.#held !== undefined) {
      this.#held.push(data);
      return;
    }
    const after = this.gapBefore(data);
    if (after === undefined) return this.#deliver(data);
    const held: InboxMessage[] = [data];
    this.#held = held;
    const release = (): void => {
      if (this.#held !== held) return;
      this.#held = undefined;
      held.sort((a, b) => a.seq - b.seq);
      for (const m of held) this.#deliver(m);
    };
    this.opts.sync(after).then(release, (err: { code: string; message: string; details: Record<string, unknown> }) => {
      this.opts.syncFailed(after, err);
      if (err.code !== 'CLOSED') release();
    });
  }

  #deliver(data: InboxMessage): void {
    if (this.accept(data)) this.opts.deliver(data);
    this.handled(data);
  }

  /**
   * Call for every direct message, in arrival order. Returns true when the application
   * should see it (first time), false for a duplicate. Either way it is scheduled for
   * acknowledgement, which the caller makes happen after the application's handler ran.
   */
  accept(data: { mid?: unknown; seq?: unknown; epoch?: unknown }): boolean {
    const mid = typeof data.mid === 'string' ? data.mid : undefined;
    const seq = typeof data.seq === 'number' ? data.seq : undefined;
    const epoch = typeof data.epoch === 'string' ? data.epoch : undefined;
    let fresh = mid === undefined || !this.#mids.has(mid);
    if (seq !== undefined) {
      if (epoch !== this.#epoch) {
        // A new epoch (or the first message): its seq numbers start over.
        this.#epoch = epoch;
        this.#lastSeq = 0;
      }
      if (seq <= this.#lastSeq) fresh = false;
      else if (fresh) this.#lastSeq = seq;
    }
    if (fresh && mid !== undefined) this.#remember(mid);
    return fresh;
  }

  /**
   * Whether `data` skips seqs after the last one accepted in the same epoch. A gap is
   * normal when another connection of the user acknowledged the missing ones, but it
   * may also be a message the server has not delivered yet: the client asks with
   * `sync` before it acknowledges past it.
   */
  gapBefore(data: { seq?: unknown; epoch?: unknown }): number | undefined {
    if (typeof data.seq !== 'number' || this.#lastSeq === 0) return undefined;
    const epoch = typeof data.epoch === 'string' ? data.epoch : undefined;
    if (epoch !== this.#epoch || data.seq <= this.#lastSeq + 1) return undefined;
    return this.#lastSeq;
  }

  /** Marks a message as handled: it will be acknowledged with the next batch. */
  handled(data: { seq?: unknown; epoch?: unknown }): void {
    if (typeof data.seq !== 'number') return;
    const epoch = typeof data.epoch === 'string' ? data.epoch : undefined;
    if (epoch !== this.#ackEpoch) {
      this.#flush();
      this.#ackEpoch = epoch;
      this.#ackUpTo = 0;
      this.#sentUpTo = 0;
    }
    if (data.seq > this.#ackUpTo) this.#ackUpTo = data.seq;
    this.#unacked++;
    if (this.#unacked >= this.opts.ackEvery) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.opts.ackInterval);
  }

  /** Sends the pending acknowledgement now (before a deliberate close). */
  flush(): void {
    this.#flush();
  }

  /** The socket closed: what it acknowledged may not have arrived; the next replay is re-acknowledged. */
  disconnected(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sentUpTo = 0;
    this.#unacked = 0;
  }

  stop(): void {
    this.disconnected();
  }

  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ackUpTo <= this.#sentUpTo) return;
    if (this.opts.sendAck(this.#ackUpTo, this.#ackEpoch)) {
      this.#sentUpTo = this.#ackUpTo;
      this.#unacked = 0;
    }
  }

  #remember(mid: string): void {
    this.#mids.add(mid);
    this.#midOrder.push(mid);
    if (this.#midOrder.length - this.#midHead > MID_MEMORY) {
      this.#mids.delete(this.#midOrder[this.#midHead]!);
      this.#midHead++;
      if (this.#midHead > MID_MEMORY) {
        this.#midOrder = this.#midOrder.slice(this.#midHead);
        this.#midHead = 0;
      }
    }
  }
}
