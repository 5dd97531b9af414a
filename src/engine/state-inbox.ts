import type { AppendOptions, AppendResult, Inbox, InboxEntry, InboxEpoch, InboxOptions, NewInboxEntry } from './inbox.js';
import { checkAppendOptions, checkCount, checkEntry, checkEpoch, checkUserId, closedError, newEpoch } from './inbox-rules.js';
import { InboxState } from './inbox-state.js';

/**
 * How an inbox kept in an InboxState makes its changes durable (the journal); none for
 * the memory inbox. Each method is called after the change was checked and before
 * it is made to the state, and resolves once the change is durable. `append` throws,
 * synchronously, when the entry cannot be recorded (its content cannot be encoded):
 * the state then stays untouched.
 */
export interface InboxRecorder {
  append(userId: string, epoch: InboxEpoch, seq: number, now: number, entry: NewInboxEntry, dedup: { key: string; ttlMs: number } | undefined): Promise<void>;
  ack(userId: string, upTo: number, now: number, epoch: InboxEpoch | undefined): Promise<void>;
  take(userId: string, now: number): Promise<void>;
  sweep(now: number): Promise<void>;
  /** Resolves once everything recorded so far is durable. */
  flushed(): Promise<void>;
  /** Called before anything changes the box of `userId` (a snapshot under way may need it as it was). */
  touch(userId: string): void;
}

/**
 * An Inbox whose state is an InboxState in this process: the memory inbox (no
 * recorder) and the journal inbox (a recorder writing every change to disk).
 *
 * Each call checks its arguments, then changes the state synchronously, so calls are
 * atomic and take effect in call order (concurrent appends get increasing seqs in
 * call order), and then waits for the recorder. `content` is deep-copied on append,
 * so later mutation by the caller does not alter the stored message; entries
 * returned by read and ack share their `content` with the store and must be treated
 * as read-only. read, lastSeq and takeDropped see every call made so far, recorded or
 * not. A resend found by `dedup` resolves once everything recorded before it is
 * durable (so it is answered no sooner than its original). `onAssigned` is called
 * with the seq before the append is durable; `options.live` is ignored
 * (publishesLive is false: the caller publishes).
 */
export class StateInbox implements Inbox {
  protected state: InboxState;
  protected readonly clock: () => number;
  readonly #recorder: InboxRecorder | undefined;
  #closing: Promise<void> | undefined;
  readonly publishesLive = false;

  constructor(opts: InboxOptions, clock: () => number, recorder?: InboxRecorder) {
    this.state = new InboxState(opts);
    this.clock = clock;
    this.#recorder = recorder;
  }

  async append(userId: string, entry: NewInboxEntry, options?: AppendOptions): Promise<AppendResult> {
    this.#checkOpen();
    checkUserId(userId);
    checkEntry(entry);
    checkAppendOptions(options);
    const now = this.clock();
    const dedup = options?.dedup;
    if (dedup) {
      const duplicate = this.state.duplicate(userId, dedup.key, dedup.ttlMs, now);
      if (duplicate) {
        await this.#recorder?.flushed();
        return duplicate;
      }
    }
    // Copied before touching state: a non-cloneable content throws here and leaves no trace.
    const content: unknown = typeof entry.content === 'object' && entry.content !== null ? structuredClone(entry.content) : entry.content;
    const existing = this.state.users.get(userId);
    const epoch = existing?.epoch ?? newEpoch();
    const seq = (existing?.last ?? 0) + 1;
    this.#recorder?.touch(userId);
    const recorded = this.#recorder?.append(userId, epoch, seq, now, entry, dedup);
    const box = existing ?? this.state.open(userId, epoch);
    const dropped = this.state.put(box, seq, { ...entry, content }, dedup, now);
    options?.onAssigned?.(seq, epoch);
    await recorded;
    return { seq, epoch, dropped };
  }

  async read(userId: string, after: number, limit: number): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('after', after);
    checkCount('limit', limit);
    return this.state.read(userId, after, limit, this.clock());
  }

  /** Expired entries inside the acknowledged range are removed too, but counted as dropped, not returned. */
  async ack(userId: string, upTo: number, epoch?: string): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('upTo', upTo);
    checkEpoch(epoch);
    const box = this.state.users.get(userId);
    const before = box?.entries.length ?? 0;
    const now = this.clock();
    if (before > 0) this.#recorder?.touch(userId);
    const removed = this.state.ack(userId, upTo, epoch, now);
    // Nothing removed (an ack repeated, or naming another epoch): nothing to record.
    if ((box?.entries.length ?? 0) !== before) await this.#recorder?.ack(userId, upTo, now, epoch);
    return removed;
  }

  /** See InboxState.takeDropped for how expiry is checked. Records only when there is something to take. */
  async takeDropped(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    const now = this.clock();
    if (!this.state.hasDropped(userId, now)) return 0;
    this.#recorder?.touch(userId);
    const n = this.state.takeDropped(userId, now);
    await this.#recorder?.take(userId, now);
    return n;
  }

  async lastSeq(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    return this.state.users.get(userId)?.last ?? 0;
  }

  async sweep(now: number = this.clock()): Promise<number> {
    this.#checkOpen();
    if (typeof now !== 'number' || Number.isNaN(now)) throw new RangeError('inbox: sweep(now) needs a number');
    const removed = this.state.sweep(now, this.#recorder ? (userId) => this.#recorder!.touch(userId) : undefined);
    if (removed > 0) await this.#recorder?.sweep(now);
    return removed;
  }

  /** Stops accepting calls, then releases what the inbox holds (see release). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.release();
    return this.#closing;
  }

  /** Runs once, at close, after calls stopped being accepted. */
  protected async release(): Promise<void> {
    this.state.users.clear();
  }

  #checkOpen(): void {
    if (this.#closing) throw closedError();
  }
}
