import type { AppendResult, InboxEntry, InboxEpoch, InboxOptions, NewInboxEntry } from './inbox.js';
import { dedupHolds, isExpired } from './inbox-rules.js';
import { removeHead } from './memory/array-head.js';

/** What a de-duplicated resend is answered with, and when the record was written. */
export interface DedupRecord {
  seq: number;
  epoch: InboxEpoch;
  mid: string;
  timestamp: number;
  writtenAt: number;
  ttlMs: number;
}

/** One user's inbox in memory. */
export interface UserBox {
  /** Chosen when the box is created; the counter lives exactly as long as the box. */
  epoch: InboxEpoch;
  /** Last seq ever assigned; kept after every entry is gone so seqs are never reused. */
  last: number;
  dropped: number;
  /** Live entries, ascending by seq. */
  entries: InboxEntry[];
  /** De-duplication records by key, in insertion order (so the oldest come first). */
  dedup: Map<string, DedupRecord>;
}

/**
 * Every user's inbox as plain data in memory, and the rules that change it: the
 * state machine behind MemoryInbox and JournalInbox. It has no clock and draws no
 * randomness: every method is given `now`, and a new user's epoch comes from the
 * caller. So the same calls with the same arguments always leave the same state,
 * which is what lets the journal rebuild it by replaying its records.
 *
 * No validation here: the engines check their arguments before calling in.
 * Entries are stored as given (content included, not copied) and returned as copies
 * of the entry object sharing `content`.
 */
export class InboxState {
  readonly #opts: InboxOptions;
  readonly users = new Map<string, UserBox>();

  constructor(opts: InboxOptions) {
    this.#opts = opts;
  }

  /** The user's box, created in `epoch` when missing. */
  open(userId: string, epoch: InboxEpoch): UserBox {
    let box = this.users.get(userId);
    if (!box) {
      box = { epoch, last: 0, dropped: 0, entries: [], dedup: new Map() };
      this.users.set(userId, box);
    }
    return box;
  }

  /**
   * The original append's answer when a record under `key` holds at `now`; undefined
   * otherwise. Drops the user's expired records on the way (see pruneDedup).
   */
  duplicate(userId: string, key: string, ttlMs: number, now: number): AppendResult | undefined {
    const box = this.users.get(userId);
    if (!box) return undefined;
    pruneDedup(box.dedup, now);
    const found = box.dedup.get(key);
    if (!found || !dedupHolds(found.writtenAt, now, ttlMs)) return undefined;
    return { seq: found.seq, epoch: found.epoch, dropped: 0, duplicate: { mid: found.mid, timestamp: found.timestamp } };
  }

  /**
   * Stores `entry` at `seq` (which must exceed box.last), with its de-duplication
   * record when `dedup` is given, trims the oldest entries past maxPerUser and returns
   * how many it trimmed (also added to box.dropped).
   */
  put(box: UserBox, seq: number, entry: NewInboxEntry, dedup: { key: string; ttlMs: number } | undefined, now: number): number {
    box.last = seq;
    if (dedup) {
      // Re-inserted, not updated in place, so the map stays ordered by writtenAt.
      box.dedup.delete(dedup.key);
      box.dedup.set(dedup.key, { seq, epoch: box.epoch, mid: entry.mid, timestamp: entry.timestamp, writtenAt: now, ttlMs: dedup.ttlMs });
    }
    box.entries.push({ seq, epoch: box.epoch, mid: entry.mid, from: entry.from, to: entry.to, content: entry.content, timestamp: entry.timestamp });
    const overflow = box.entries.length - this.#opts.maxPerUser;
    if (overflow <= 0) return 0;
    removeHead(box.entries, overflow);
    box.dropped += overflow;
    return overflow;
  }

  /** Unexpired entries with seq > after, in seq order, at most `limit`. */
  read(userId: string, after: number, limit: number, now: number): InboxEntry[] {
    const box = this.users.get(userId);
    const out: InboxEntry[] = [];
    if (!box || limit === 0) return out;
    for (let i = firstAfter(box.entries, after); i < box.entries.length && out.length < limit; i++) {
      const e = box.entries[i]!;
      if (!isExpired(e.timestamp, now, this.#opts.ttlMs)) out.push({ ...e });
    }
    return out;
  }

  /**
   * Removes the entries with seq <= upTo (when `epoch` is absent or the user's) and
   * returns the unexpired ones; expired ones in the range are counted as dropped.
   */
  ack(userId: string, upTo: number, epoch: InboxEpoch | undefined, now: number): InboxEntry[] {
    const box = this.users.get(userId);
    if (!box || (epoch !== undefined && epoch !== box.epoch)) return [];
    const removed = removeHead(box.entries, firstAfter(box.entries, upTo));
    const out: InboxEntry[] = [];
    for (const e of removed) {
      if (isExpired(e.timestamp, now, this.#opts.ttlMs)) box.dropped++;
      else out.push(e);
    }
    return out;
  }

  /**
   * When the user's oldest entry has expired, removes every expired entry (counting
   * it as dropped); then returns and resets the dropped count. Keyed on the oldest
   * entry because one node stamps entries in seq order: a full inbox of a recipient
   * who does not ack is asked on every append that overflows it and must not be
   * scanned each time. An entry stamped out of order is counted by the next sweep.
   */
  takeDropped(userId: string, now: number): number {
    const box = this.users.get(userId);
    if (!box) return 0;
    const oldest = box.entries[0];
    if (oldest !== undefined && isExpired(oldest.timestamp, now, this.#opts.ttlMs)) this.#expire(box, now);
    const n = box.dropped;
    box.dropped = 0;
    return n;
  }

  /** True when takeDropped(userId, now) would change anything. */
  hasDropped(userId: string, now: number): boolean {
    const box = this.users.get(userId);
    if (!box) return false;
    const oldest = box.entries[0];
    return box.dropped > 0 || (oldest !== undefined && isExpired(oldest.timestamp, now, this.#opts.ttlMs));
  }

  /**
   * Removes every user's expired entries (counting them as dropped) and expired
   * de-duplication records; returns how many entries. `beforeChange` is called with
   * each user whose entries are about to be removed.
   */
  sweep(now: number, beforeChange?: (userId: string) => void): number {
    let total = 0;
    for (const [userId, box] of this.users) {
      if (this.#hasExpired(box, now)) {
        beforeChange?.(userId);
        total += this.#expire(box, now);
      }
      pruneDedup(box.dedup, now);
    }
    return total;
  }

  #hasExpired(box: UserBox, now: number): boolean {
    return box.entries.some((e) => isExpired(e.timestamp, now, this.#opts.ttlMs));
  }

  /** Removes the box's expired entries, counting them as dropped; returns how many. */
  #expire(box: UserBox, now: number): number {
    if (!this.#hasExpired(box, now)) return 0;
    const kept = box.entries.filter((e) => !isExpired(e.timestamp, now, this.#opts.ttlMs));
    const removed = box.entries.length - kept.length;
    box.entries = kept;
    box.dropped += removed;
    return removed;
  }
}

/**
 * Drops the records whose own ttl has run out, oldest first, stopping at the first one
 * still in force: records are inserted in writtenAt order, so with one ttl for all of
 * them (the gateway's DedupWindow) this removes exactly the expired ones.
 */
export function pruneDedup(records: Map<string, DedupRecord>, now: number): void {
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
