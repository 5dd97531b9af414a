import type { AppendResult } from '../inbox.js';
import { newEpoch } from '../inbox-rules.js';

/** A user's seq counter while appends of it are queued or in flight. */
interface Counter {
  epoch: string;
  /** The last seq handed out (committed or not). */
  last: number;
  /** Appends handed a seq and not yet settled. */
  pending: number;
  /** An append of this user failed: its seq is burnt, so keep the counter for the life of the inbox. */
  burnt: boolean;
}

/**
 * LmdbInbox's seq counters in memory, so an append knows its seq (and can be
 * delivered live) when it is called rather than when its transaction commits.
 *
 * A counter is read from the committed user record when the user has no append in
 * flight, and kept while it has some, so seqs are handed out strictly increasing in
 * call order. An append whose write fails keeps its seq burnt: its counter stays in
 * memory (the stored record is behind it) so the seq is never handed out again by
 * this process. Assumes this process is the only writer of the file while it is open.
 */
export class SeqCounters {
  readonly #counters = new Map<string, Counter>();
  /** Appends with a de-duplication key still in flight: (user, key) -> their outcome. */
  readonly #dedup = new Map<string, Promise<AppendResult>>();

  /** `stored`: the committed record's epoch and last seq, read only when no counter is in memory. */
  next(userId: string, stored: () => { epoch: string; last: number } | undefined): { seq: number; epoch: string } {
    let counter = this.#counters.get(userId);
    if (counter === undefined) {
      const record = stored();
      counter = { epoch: record?.epoch ?? newEpoch(), last: record?.last ?? 0, pending: 0, burnt: false };
      this.#counters.set(userId, counter);
    }
    counter.pending += 1;
    counter.last += 1;
    return { seq: counter.last, epoch: counter.epoch };
  }

  /** The epoch a counter in memory holds for the user, if any. */
  epoch(userId: string): string | undefined {
    return this.#counters.get(userId)?.epoch;
  }

  /** To be called once per `next`, when that append has settled. */
  settled(userId: string, ok: boolean): void {
    const counter = this.#counters.get(userId);
    if (counter === undefined) return;
    counter.pending -= 1;
    if (!ok) counter.burnt = true;
    if (counter.pending === 0 && !counter.burnt) this.#counters.delete(userId);
  }

  /** The outcome of an in-flight append under the same de-duplication key, if any. */
  inFlight(userId: string, key: string): Promise<AppendResult> | undefined {
    return this.#dedup.get(dedupKey(userId, key));
  }

  /** Remembers an in-flight append's outcome under its de-duplication key until it settles. */
  track(userId: string, key: string, outcome: Promise<AppendResult>): void {
    const k = dedupKey(userId, key);
    this.#dedup.set(k, outcome);
    const forget = (): void => {
      if (this.#dedup.get(k) === outcome) this.#dedup.delete(k);
    };
    outcome.then(forget, forget);
  }
}

function dedupKey(userId: string, key: string): string {
  return `${userId}\u0000${key}`;
}
