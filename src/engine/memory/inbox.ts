import type { AppendOptions, AppendResult, Inbox, InboxEntry, InboxOptions, NewInboxEntry } from '../inbox.js';
import {
  checkAppendOptions,
  checkCount,
  checkEntry,
  checkEpoch,
  checkOptions,
  checkUserId,
  closedError,
  dedupHolds,
  isExpired,
  newEpoch,
} from '../inbox-rules.js';
import { removeHead } from './array-head.js';

/** What a de-duplicated resend is answered with, and when the record was written. */
interface DedupRecord {
  seq: number;
  epoch: string;
  mid: string;
  timestamp: number;
  writtenAt: number;
  ttlMs: number;
}

interface UserBox {
  /** Chosen when the box is created: the counter lives exactly as long as the box (the process). */
  epoch: string;
  /** Last seq ever assigned; kept after every entry is gone so seqs are never reused. */
  last: number;
  dropped: number;
  /** Live entries, ascending by seq. */
  entries: InboxEntry[];
  /** De-duplication records by key, in insertion order (so the oldest come first). */
  dedup: Map<string, DedupRecord>;
}

/**
 * The in-process inbox for single-node deployments and tests.
 *
 * NOT DURABLE: everything lives in this process's heap and is lost when it exits;
 * "append resolved" only means "stored in memory". It is not shared between
 * processes or gateway nodes. Use LmdbInbox (one node) or the Redis engine (a
 * cluster) when offline messages must survive a restart.
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
  readonly #opts: InboxOptions;
  readonly #clock: () => number;
  readonly #users = new Map<string, UserBox>();
  #closed = false;
  readonly publishesLive = false;

  constructor(opts: InboxOptions, clock: () => number = Date.now) {
    this.#opts = { ...checkOptions(opts) };
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
    let box = this.#users.get(userId);
    if (!box) {
      box = { epoch: newEpoch(), last: 0, dropped: 0, entries: [], dedup: new Map() };
      this.#users.set(userId, box);
    }
    const now = this.#clock();
    const dedup = options?.dedup;
    if (dedup) {
      pruneDedup(box.dedup, now);
      const found = box.dedup.get(dedup.key);
      if (found && dedupHolds(found.writtenAt, now, dedup.ttlMs)) {
        return { seq: found.seq, epoch: found.epoch, dropped: 0, duplicate: { mid: found.mid, timestamp: found.timestamp } };
      }
    }
    const seq = ++box.last;
    if (dedup) {
      // Re-inserted, not updated in place, so the map stays ordered by writtenAt.
      box.dedup.delete(dedup.key);
      box.dedup.set(dedup.key, { seq, epoch: box.epoch, mid: entry.mid, timestamp: entry.timestamp, writtenAt: now, ttlMs: dedup.ttlMs });
    }
    box.entries.push({
      seq,
      epoch: box.epoch,
      mid: entry.mid,
      from: entry.from,
      to: entry.to,
      content,
      timestamp: entry.timestamp,
    });
    const overflow = box.entries.length - this.#opts.maxPerUser;
    let dropped = 0;
    if (overflow > 0) {
      removeHead(box.entries, overflow);
      dropped = overflow;
      box.dropped += overflow;
    }
    // Stored in memory already: "before durable" is trivially true here.
    options?.onAssigned?.(seq, box.epoch);
    return { seq, epoch: box.epoch, dropped };
  }

  async read(userId: string, after: number, limit: number): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('after', after);
    checkCount('limit', limit);
    const box = this.#users.get(userId);
    if (!box || limit === 0) return [];
    const now = this.#clock();
    const out: InboxEntry[] = [];
    for (let i = firstAfter(box.entries, after); i < box.entries.length && out.length < limit; i++) {
      const e = box.entries[i]!;
      if (!isExpired(e.timestamp, now, this.#opts.ttlMs)) out.push({ ...e });
    }
    return out;
  }

  /** Expired entries inside the acknowledged range are removed too, but counted as dropped, not returned. */
  async ack(userId: string, upTo: number, epoch?: string): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('upTo', upTo);
    checkEpoch(epoch);
    const box = this.#users.get(userId);
    if (!box || (epoch !== undefined && epoch !== box.epoch)) return [];
    const removed = removeHead(box.entries, firstAfter(box.entries, upTo));
    const now = this.#clock();
    const out: InboxEntry[] = [];
    for (const e of removed) {
      if (isExpired(e.timestamp, now, this.#opts.ttlMs)) box.dropped++;
      else out.push(e);
    }
    return out;
  }

  /**
   * Expiry is checked on the oldest entry, as LmdbInbox does (one node stamps entries in
   * seq order): a full inbox of a recipient who does not ack is asked on every append
   * that overflows it, and must not be scanned each time. An entry stamped out of order
   * behind an unexpired one is counted by the next sweep.
   */
  async takeDropped(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    const box = this.#users.get(userId);
    if (!box) return 0;
    const now = this.#clock();
    const oldest = box.entries[0];
    if (oldest !== undefined && isExpired(oldest.timestamp, now, this.#opts.ttlMs)) this.#expire(box, now);
    const n = box.dropped;
    box.dropped = 0;
    return n;
  }

  async lastSeq(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    return this.#users.get(userId)?.last ?? 0;
  }

  async sweep(now: number = this.#clock()): Promise<number> {
    this.#checkOpen();
    if (typeof now !== 'number' || Number.isNaN(now)) throw new RangeError('inbox: sweep(now) needs a number');
    let total = 0;
    for (const box of this.#users.values()) {
      total += this.#expire(box, now);
      pruneDedup(box.dedup, now);
    }
    return total;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#users.clear();
  }

  /** Removes the box's expired entries, counting them as dropped; returns how many. */
  #expire(box: UserBox, now: number): number {
    if (box.entries.length === 0 || !box.entries.some((e) => isExpired(e.timestamp, now, this.#opts.ttlMs))) return 0;
    const kept = box.entries.filter((e) => !isExpired(e.timestamp, now, this.#opts.ttlMs));
    const removed = box.entries.length - kept.length;
    box.entries = kept;
    box.dropped += removed;
    return removed;
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }
}

/**
 * Drops the records whose own ttl has run out, oldest first, stopping at the first one
 * still in force: records are inserted in writtenAt order, so with one ttl for all of
 * them (the gateway's DedupWindow) this removes exactly the expired ones.
 */
function pruneDedup(records: Map<string, DedupRecord>, now: number): void {
  for (const [key, record] of records) {
    if (dedupHolds(record.writtenAt, now, record.ttlMs)) return;
    records.delete(key);
  }
}

/** Index of the first entry with seq > after (entries ascend by seq). */
function firstAfter(entries: InboxEntry[], after: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
