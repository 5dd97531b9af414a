import type { Database, RootDatabase } from 'lmdb';
import type { AppendResult } from '../inbox.js';
import { dedupHolds } from '../inbox-rules.js';

/**
 * A de-duplication record as written since the compact layout: the original append's
 * answer and when it was written, `[seq, epoch, mid, timestamp, writtenAt, expires]`
 * (expires = writtenAt + ttlMs, the record's key in the expiry index). An array, not an
 * object: at 2,000 messages/s a two-minute window holds 240,000 records, and the
 * object form took about a third more pages (and was slower to encode).
 */
type CompactRecord = [seq: number, epoch: string, mid: string, timestamp: number, writtenAt: number, expires: number];

/** The object form earlier versions wrote; still read, never written. */
interface ObjectRecord {
  seq: number;
  epoch: string;
  mid: string;
  timestamp: number;
  writtenAt: number;
  expires: number;
}

type StoredRecord = CompactRecord | ObjectRecord;

function unpack(stored: StoredRecord): ObjectRecord {
  if (!Array.isArray(stored)) return stored;
  const [seq, epoch, mid, timestamp, writtenAt, expires] = stored;
  return { seq, epoch, mid, timestamp, writtenAt, expires };
}

type DedupKey = [userId: string, key: string];
type DedupExpiryKey = [expires: number, userId: string, key: string];

/**
 * LmdbInbox's de-duplication records, in two sub-databases of the inbox environment:
 *  - `dedup`: [userId, key] -> [seq, epoch, mid, timestamp, writtenAt, expires] (records
 *    written by earlier versions as an object with those fields are read alike)
 *  - `dedupExpiry`: [expires, userId, key] -> true, so sweeps find expired records
 *    without reading every one.
 * `write` and `sweepBatch` must run inside the inbox's write transaction (the append's
 * own, so a record commits, or is lost, together with its entry).
 */
export class LmdbDedupRecords {
  readonly #records: Database<StoredRecord, DedupKey>;
  readonly #expiry: Database<true, DedupExpiryKey>;

  constructor(root: RootDatabase) {
    this.#records = root.openDB<StoredRecord, DedupKey>({ name: 'dedup' });
    this.#expiry = root.openDB<true, DedupExpiryKey>({ name: 'dedupExpiry' });
  }

  /**
   * The original append's answer when a committed record under (userId, key) was
   * written at most ttlMs before `now`; undefined otherwise. A read outside any
   * transaction: an expired record is left for `write` to replace or a sweep to remove.
   */
  peek(userId: string, key: string, ttlMs: number, now: number): AppendResult | undefined {
    const stored = this.#records.get([userId, key]);
    if (stored === undefined) return undefined;
    const found = unpack(stored);
    if (!dedupHolds(found.writtenAt, now, ttlMs)) return undefined;
    return { seq: found.seq, epoch: found.epoch, dropped: 0, duplicate: { mid: found.mid, timestamp: found.timestamp } };
  }

  /**
   * Records the answer of an append that `peek` did not match, replacing any expired
   * record (whose old expiry key sweepBatch then recognises as stale).
   */
  write(userId: string, key: string, ttlMs: number, now: number, answer: { seq: number; epoch: string; mid: string; timestamp: number }): void {
    const expires = now + ttlMs;
    const record: CompactRecord = [answer.seq, answer.epoch, answer.mid, answer.timestamp, now, expires];
    this.#records.put([userId, key], record);
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
      const stored = this.#records.get([userId, key]);
      if (stored !== undefined && unpack(stored).expires === expires) this.#records.remove([userId, key]);
    }
    return due.length;
  }
}
