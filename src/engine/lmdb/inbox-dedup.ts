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

/** A record as stored, in either form. */
export type StoredDedupRecord = StoredRecord;

/** A stored record in its object form, whichever form it was written in. */
export function readDedupRecord(stored: StoredRecord): ObjectRecord {
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
    const found = readDedupRecord(stored);
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
      if (stored !== undefined && readDedupRecord(stored).expires === expires) this.#records.remove([userId, key]);
    }
    return due.length;
  }
}

/**
 * Appends with a de-duplication key queue a lazy sweep of expired records at most once
 * per DEDUP_SWEEP_EVERY_MS (again at once while sweeps come back full). It shares the
 * inbox's next commit and removes up to DEDUP_SWEEP_BATCH records with one cursor.
 * Under steady load the records then stay at what the window holds, instead of growing
 * by another sweep interval's worth (a minute at 2,000 messages/s is 120,000 records)
 * between the periodic sweeps, which still clear them when appends stop. Not once per
 * commit: a cursor that finds nothing still costs tens of microseconds.
 */
export const DEDUP_SWEEP_BATCH = 4096;
export const DEDUP_SWEEP_EVERY_MS = 1000;

/** The lazy sweeps of one inbox's de-duplication records (see DEDUP_SWEEP_BATCH). */
export class DedupSweeps {
  readonly #records: LmdbDedupRecords;
  /** Queues `fn` as a lazy write of the inbox (it runs inside the write transaction). */
  readonly #write: (fn: () => number) => Promise<number>;
  readonly #clock: () => number;
  #queued = false;
  /** When the last sweep was queued; -Infinity while the last one came back full. */
  #at = -Infinity;
  /** The first failure since takeError() was last called. */
  #error: unknown;

  constructor(records: LmdbDedupRecords, write: (fn: () => number) => Promise<number>, clock: () => number) {
    this.#records = records;
    this.#write = write;
    this.#clock = clock;
  }

  /** After an append that wrote a record: queues a sweep unless one is queued or ran lately. */
  afterAppend(): void {
    const now = this.#clock();
    if (this.#queued || now - this.#at < DEDUP_SWEEP_EVERY_MS) return;
    this.#queued = true;
    this.#at = now;
    this.#write(() => {
      this.#queued = false;
      const removed = this.#records.sweepBatch(this.#clock(), DEDUP_SWEEP_BATCH);
      if (removed === DEDUP_SWEEP_BATCH) this.#at = -Infinity;
      return removed;
    }).catch((err: unknown) => {
      // Nothing is lost: the records stay until a later sweep removes them. The inbox's
      // next sweep() reports the failure (takeError).
      this.#queued = false;
      this.#error ??= err;
    });
  }

  /** The first background failure since the last call (undefined when none), forgotten once taken. */
  takeError(): unknown {
    const err = this.#error;
    this.#error = undefined;
    return err;
  }
}
