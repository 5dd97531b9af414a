/**
 * How LmdbInbox stores its entries and user records, and how it reads what earlier
 * versions stored.
 *
 * Values are written as msgpack arrays. Earlier versions wrote objects, which lmdb-js
 * encodes as msgpackr records: a structure definition per shape and a field lookup on
 * every read and write. Entries and user records are written on every append and
 * every ack, and arrays made those writes (and the pages they take) markedly cheaper.
 * Both forms are read, so a file written by an earlier version keeps working; only
 * records written from now on are arrays.
 */

/** One message as the inbox uses it; the seq is the second element of its key. */
export interface StoredEntry {
  mid: string;
  from: string;
  to: string;
  content: unknown;
  timestamp: number;
}

/** Per-user bookkeeping, one record per user ever appended to (kept so seqs are never reused). */
export interface UserState {
  /** The counter's epoch: chosen with the record, so it lives exactly as long as `last`. */
  epoch: string;
  /** Last seq assigned. */
  last: number;
  /** Entries currently stored (so trimming needs no count scan). */
  live: number;
  /** Entries lost since the last takeDropped. */
  dropped: number;
}

/** `[mid, from, to, content, timestamp]`, or the object form of earlier versions. */
export type EntryValue = [mid: string, from: string, to: string, content: unknown, timestamp: number] | StoredEntry;

/** `[epoch, last, live, dropped]`, or the object form of earlier versions (whose epoch may be missing). */
export type UserValue = [epoch: string, last: number, live: number, dropped: number] | UserState;

export function encodeEntry(entry: StoredEntry): EntryValue {
  return [entry.mid, entry.from, entry.to, entry.content, entry.timestamp];
}

export function decodeEntry(value: EntryValue): StoredEntry {
  if (!Array.isArray(value)) return value;
  const [mid, from, to, content, timestamp] = value;
  return { mid, from, to, content, timestamp };
}

export function encodeUser(state: UserState): UserValue {
  return [state.epoch, state.last, state.live, state.dropped];
}

/** undefined for a user without a record. */
export function decodeUser(value: UserValue | undefined): UserState | undefined {
  if (value === undefined || !Array.isArray(value)) return value;
  const [epoch, last, live, dropped] = value;
  return { epoch, last, live, dropped };
}
