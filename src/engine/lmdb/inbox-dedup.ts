import type { Database, RootDatabase } from 'lmdb';
import type { AppendResult } from '../inbox.js';
import { dedupHolds } from '../inbox-rules.js';

/** A de-duplication record: the original append's answer, and when it was written. */
interface DedupRecord {
  seq: number;
  epoch: string;
  mid: string;
  timestamp: number;
  writtenAt: number;
  /** writtenAt + ttlMs: the record's key in the expiry index. */
  expires: number;
}

type DedupKey = [userId: string, key: string];
type DedupExpiryKey = [expires: number, userId: string, key: string];

/**
 * LmdbInbox's de-duplication records, in two sub-databases of the inbox environment:
 *  - `dedup`: [userId, key] -> {seq, epoch, mid, timestamp, writtenAt, expires}
 *  - `dedupExpiry`: [expires, userId, key] -> true, so sweeps find expired records
 *    without reading every one.
 * `write` and `sweepBatch` must run inside the inbox's write transaction (the append's
 * own, so a record commits, or is lost, together with its entry).
 */
export class LmdbDedupRecords {
  readonly #records: Database<DedupRecord, DedupKey>;
  readonly #expiry: Database<true, DedupExpiryKey>;

  constructor(root: RootDatabase) {
    this.#records = root.openDB<DedupRecord, DedupKey>({ name: 'dedup' });
    this.#expiry = root.openDB<true, DedupExpiryKey>({ name: 'dedupExpiry' });
  }

  /**
   * The original append's answer when a committed record under (userId, key) was
   * written at most ttlMs before `now`; undefined otherwise. A read outside any
   * transaction: an expired record is left for `write` to replace or a sweep to remove.
   */
  peek(userId: string, key: string, ttlMs: number, now: number): AppendResult | undefined {
    const found = this.#records.get([userId, key]);
    if (found === undefined || !dedupHolds(found.writtenAt, now, ttlMs)) return undefined;
    return { seq: found.seq, epoch: found.epoch, dropped: 0, duplicate: { mid: found.mid, timestamp: found.timestamp } };
  }

  /**
   * Records the answer of an append that `peek` did not match, replacing any expired
   * record (whose old expiry key sweepBatch then recognises as stale).
   */
  write(userId: string, key: string, ttlMs: number, now: number, answer: { seq: number; epoch: string; mid: string; timestamp: number }): void {
    const expires = now + ttlMs;
    this.#records.put([userId, key], { ...answer, writtenAt: now, expires });
    this.#expiry.put([expires, userId, key], true);
  }

  /** Removes up to `limit` records expired at `now`; returns how many. */
  sweepBatch(now: number, limit: number): number {
    // dedupHolds allows exactly ttlMs, so a record is due once expires < now: keys below [now].
    // Collected before removing: the cursor must not walk keys being deleted.
    const due = Array.from(this.#expiry.getKeys({ end: [now], limit }));
    for (const [expires, userId, key] of due) {
      this.#expiry.remove([expires, userId, key]);
      // A later append under the same key rewrote the record with a later expiry: keep that one.
      if (this.#records.get([userId, key])?.expires === expires) this.#records.remove([userId, key]);
    }
    return due.length;
  }
}
