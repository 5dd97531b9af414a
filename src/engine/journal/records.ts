import { Unpackr, type Options } from 'msgpackr';
import type { InboxEpoch, NewInboxEntry } from '../inbox.js';
import { pruneDedup, type InboxState } from '../inbox-state.js';
import { encodeMsgpack } from '../../protocol/msgpack.js';

/**
 * The journal's records: one msgpack array per inbox mutation, first element the
 * kind. Mutations carry the `now` they ran at, so replaying them through InboxState
 * reproduces the state exactly (expiry and de-duplication depend on it); an append
 * carries the seq and epoch it was given. A snapshot (compaction) restates the state
 * with USER, ENTRY and DEDUP records instead of the mutations that built it.
 *
 *   [1 APPEND, userId, epoch, seq, now, mid, from, to, timestamp, content, dedupKey|null, dedupTtlMs]
 *   [2 ACK,    userId, upTo, now, epoch|null]
 *   [3 TAKE,   userId, now]                        takeDropped
 *   [4 SWEEP,  now]
 *   [5 USER,   userId, epoch, last, dropped]        replaces the user's counters (and, when
 *                                                   the epoch differs, its entries and records)
 *   [6 ENTRY,  userId, seq, mid, from, to, timestamp, content]
 *   [7 DEDUP,  userId, key, seq, epoch, mid, timestamp, writtenAt, ttlMs]
 */
const APPEND = 1;
const ACK = 2;
const TAKE = 3;
const SWEEP = 4;
const USER = 5;
const ENTRY = 6;
const DEDUP = 7;

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true } as Options);

export function appendRecord(userId: string, epoch: InboxEpoch, seq: number, now: number, entry: NewInboxEntry, dedup: { key: string; ttlMs: number } | undefined): Uint8Array {
  return encodeMsgpack([APPEND, userId, epoch, seq, now, entry.mid, entry.from, entry.to, entry.timestamp, entry.content, dedup?.key ?? null, dedup?.ttlMs ?? 0]);
}

export function ackRecord(userId: string, upTo: number, now: number, epoch: InboxEpoch | undefined): Uint8Array {
  return encodeMsgpack([ACK, userId, upTo, now, epoch ?? null]);
}

export function takeRecord(userId: string, now: number): Uint8Array {
  return encodeMsgpack([TAKE, userId, now]);
}

export function sweepRecord(now: number): Uint8Array {
  return encodeMsgpack([SWEEP, now]);
}

export function userRecord(userId: string, epoch: InboxEpoch, last: number, dropped: number): Uint8Array {
  return encodeMsgpack([USER, userId, epoch, last, dropped]);
}

/**
 * The records that restate one user's box (USER, then its entries, then its
 * de-duplication records still in force at `now`), for a snapshot.
 */
export function* boxRecords(state: InboxState, userId: string, now: number): Generator<Uint8Array> {
  const box = state.users.get(userId)!;
  pruneDedup(box.dedup, now);
  yield userRecord(userId, box.epoch, box.last, box.dropped);
  for (const e of box.entries) yield encodeMsgpack([ENTRY, userId, e.seq, e.mid, e.from, e.to, e.timestamp, e.content]);
  for (const [key, r] of box.dedup) yield encodeMsgpack([DEDUP, userId, key, r.seq, r.epoch, r.mid, r.timestamp, r.writtenAt, r.ttlMs]);
}

/**
 * Applies one record to `state`. Throws on a record that cannot have been written by
 * this engine (an unknown kind, an append that does not follow its user's counter),
 * so damage is refused rather than replayed into a wrong state.
 */
export function applyRecord(state: InboxState, payload: Uint8Array): void {
  const r = unpackr.unpack(payload) as unknown[];
  if (!Array.isArray(r)) throw new Error('inbox journal: a record is not an array');
  switch (r[0]) {
    case APPEND: {
      const [, userId, epoch, seq, now, mid, from, to, timestamp, content, key, ttlMs] = r as [number, string, string, number, number, string, string, string, number, unknown, string | null, number];
      const box = state.users.get(userId) ?? state.open(userId, epoch);
      if (box.epoch !== epoch || seq <= box.last) {
        throw new Error(`inbox journal: an append to ${JSON.stringify(userId)} (${epoch}/${seq}) does not follow its counter (${box.epoch}/${box.last})`);
      }
      state.put(box, seq, { mid, from, to, content, timestamp }, key === null ? undefined : { key, ttlMs }, now);
      return;
    }
    case ACK: {
      const [, userId, upTo, now, epoch] = r as [number, string, number, number, string | null];
      state.ack(userId, upTo, epoch ?? undefined, now);
      return;
    }
    case TAKE:
      state.takeDropped(r[1] as string, r[2] as number);
      return;
    case SWEEP:
      state.sweep(r[1] as number);
      return;
    case USER: {
      const [, userId, epoch, last, dropped] = r as [number, string, string, number, number];
      const box = state.users.get(userId) ?? state.open(userId, epoch);
      if (box.epoch !== epoch) {
        box.epoch = epoch;
        box.entries = [];
        box.dedup.clear();
      }
      box.last = last;
      box.dropped = dropped;
      return;
    }
    case ENTRY: {
      const [, userId, seq, mid, from, to, timestamp, content] = r as [number, string, number, string, string, string, number, unknown];
      const box = state.users.get(userId);
      if (!box) throw new Error(`inbox journal: an entry of ${JSON.stringify(userId)} comes before its user record`);
      box.entries.push({ seq, epoch: box.epoch, mid, from, to, content, timestamp });
      return;
    }
    case DEDUP: {
      const [, userId, key, seq, epoch, mid, timestamp, writtenAt, ttlMs] = r as [number, string, string, number, string, string, number, number, number];
      const box = state.users.get(userId);
      if (!box) throw new Error(`inbox journal: a de-duplication record of ${JSON.stringify(userId)} comes before its user record`);
      box.dedup.set(key, { seq, epoch, mid, timestamp, writtenAt, ttlMs });
      return;
    }
    default:
      throw new Error(`inbox journal: unknown record kind ${String(r[0])}`);
  }
}
