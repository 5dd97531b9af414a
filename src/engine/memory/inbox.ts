import type { AppendOptions, AppendResult, Inbox, InboxEntry, InboxOptions, NewInboxEntry } from '../inbox.js';
import {
  checkAppendOptions,
  checkCount,
  checkEntry,
  checkEpoch,
  checkOptions,
  checkUserId,
  closedError,
  newEpoch,
} from '../inbox-rules.js';
import { InboxState } from '../inbox-state.js';

/**
 * The in-process inbox for single-node deployments and tests.
 *
 * NOT DURABLE: everything lives in this process's heap and is lost when it exits;
 * "append resolved" only means "stored in memory". It is not shared between
 * processes or gateway nodes. Use JournalInbox or LmdbInbox (one node) or the Redis
 * engine (a cluster) when offline messages must survive a restart.
 *
 * Every method runs synchronously to completion before its promise settles, so
 * each call is atomic and calls take effect in call order (concurrent appends get
 * increasing seqs in call order). `content` is deep-copied on append
 * (structuredClone), so later mutation by the caller does not alter the stored
 * message; entries returned by read/ack share their `content` with the store and
 * must be treated as read-only. The record of a user (its last seq and epoch) is
 * kept for the life of the process, even after all its entries are gone; a new
 * process starts every user in a new epoch. De-duplication records are checked and
 * written in the append's synchronous section, and are lost with the process.
 */
export class MemoryInbox implements Inbox {
  readonly #clock: () => number;
  readonly #state: InboxState;
  #closed = false;
  readonly publishesLive = false;

  constructor(opts: InboxOptions, clock: () => number = Date.now) {
    this.#state = new InboxState({ ...checkOptions(opts) });
    this.#clock = clock;
  }

  /** `options.live` is ignored (publishesLive is false): the caller publishes (from `options.onAssigned` if it likes). */
  async append(userId: string, entry: NewInboxEntry, options?: AppendOptions): Promise<AppendResult> {
    this.#checkOpen();
    checkUserId(userId);
    checkEntry(entry);
    checkAppendOptions(options);
    // Clone before touching state: a non-cloneable content throws here and leaves no trace.
    const content: unknown = structuredClone(entry.content);
    const now = this.#clock();
    const dedup = options?.dedup;
    if (dedup) {
      const duplicate = this.#state.duplicate(userId, dedup.key, dedup.ttlMs, now);
      if (duplicate) return duplicate;
    }
    const box = this.#state.users.get(userId) ?? this.#state.open(userId, newEpoch());
    const seq = box.last + 1;
    const dropped = this.#state.put(box, seq, { ...entry, content }, dedup, now);
    // Stored in memory already: "before durable" is trivially true here.
    options?.onAssigned?.(seq, box.epoch);
    return { seq, epoch: box.epoch, dropped };
  }

  async read(userId: string, after: number, limit: number): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('after', after);
    checkCount('limit', limit);
    return this.#state.read(userId, after, limit, this.#clock());
  }

  /** Expired entries inside the acknowledged range are removed too, but counted as dropped, not returned. */
  async ack(userId: string, upTo: number, epoch?: string): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('upTo', upTo);
    checkEpoch(epoch);
    return this.#state.ack(userId, upTo, epoch, this.#clock());
  }

  /** See InboxState.takeDropped for how expiry is checked. */
  async takeDropped(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    return this.#state.takeDropped(userId, this.#clock());
  }

  async lastSeq(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    return this.#state.users.get(userId)?.last ?? 0;
  }

  async sweep(now: number = this.#clock()): Promise<number> {
    this.#checkOpen();
    if (typeof now !== 'number' || Number.isNaN(now)) throw new RangeError('inbox: sweep(now) needs a number');
    return this.#state.sweep(now);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#state.users.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }
}
