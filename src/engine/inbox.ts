/**
 * The per-user durable inbox: the single mechanism for offline messages, delivery
 * receipts and replay. Every direct message (and every HTTP push to a user) is
 * appended to its recipient's inbox before the sender is acknowledged, and stays
 * there until the recipient acknowledges it (cumulatively, by seq), it is trimmed
 * by MaxPerUser, or it expires after TTL.
 */

/**
 * Identifies one life of a user's seq counter: 12 characters of [0-9a-z]. It stays
 * the same for as long as the counter lives and is new whenever the sequence starts
 * over at 1 (memory engine: a new process; Redis: the counter was lost, by a restart
 * without persistence or after counterRetentionMs of idleness; LMDB: only when the
 * file is deleted). Users stored by an LMDB inbox before epochs existed keep
 * LEGACY_EPOCH. A client that sees another epoch than the one it holds knows that its
 * seq cursor means nothing any more.
 */
export type InboxEpoch = string;

/** The epoch of LMDB users stored before epochs existed (written once, then stable). */
export const LEGACY_EPOCH = '000000000000';

/** One stored message. `seq` and `epoch` are assigned by the inbox; everything else by the caller. */
export interface InboxEntry {
  /**
   * Per-user sequence number: unique and strictly increasing within an epoch, starting
   * at 1, never reused within it (not even after ack or trim, nor after a failed append,
   * whose seq is skipped: see AppendOptions.onAssigned). Only (epoch, seq) is unique: a
   * new epoch starts again at 1.
   */
  seq: number;
  /** The epoch in which `seq` was assigned. */
  epoch: InboxEpoch;
  /** Server-assigned unique message id; clients de-duplicate on it. */
  mid: string;
  from: string;
  to: string;
  content: unknown;
  /** Milliseconds since the epoch at which the gateway accepted the message. */
  timestamp: number;
}

export type NewInboxEntry = Omit<InboxEntry, 'seq' | 'epoch'>;

export interface AppendResult {
  /** The seq assigned to the appended entry (for a duplicate: the original entry's). */
  seq: number;
  /** The epoch of that seq. */
  epoch: InboxEpoch;
  /** How many of the user's oldest entries this append pushed out (MaxPerUser); 0 for a duplicate. */
  dropped: number;
  /**
   * Present only when `options.dedup` found a record: nothing was appended (or
   * published), and this is the original append's answer: its entry's mid and timestamp.
   */
  duplicate?: { mid: string; timestamp: number };
  /**
   * Only from an engine with `publishesLive` when `options.live` was given and the
   * entry was appended: the receiver count Redis reported for the PUBLISH/SPUBLISH
   * (subscribed gateway nodes; 0 when none listens to the topic).
   */
  receivers?: number;
}

/**
 * The live `message` frame an engine with `publishesLive` publishes atomically with the
 * append. `payload` is the MessagePack server frame as every node would send it, with
 * placeholders the engine fills in: 12 bytes of epoch at [epochAt, epochAt + 12) and
 * the seq as a big-endian uint32 at [seqAt, seqAt + 4) (so the frame must encode seq
 * as a MessagePack uint32, 0xce). The two ranges must not overlap.
 */
export interface LivePublish {
  /** Broker topic (the recipient's `u:<user>`); published exactly as Broker.publish would. */
  topic: string;
  payload: Uint8Array;
  epochAt: number;
  seqAt: number;
  /** The publishing node's id (the broker envelope's origin). */
  origin: string;
}

export interface AppendOptions {
  /**
   * De-duplication of resends: when a record under (userId, key) was written at most
   * ttlMs ago (by the inbox clock), nothing is appended and the result is the
   * original append's `{ seq, epoch, dropped: 0, duplicate }`. Otherwise the entry is
   * appended and the record written in the same atomic step, so an append that
   * resolved is de-duplicated exactly as durably as its entry is stored. The ttl
   * counts from the first append; a hit does not extend it.
   */
  dedup?: { key: string; ttlMs: number };
  /** Publish the live frame from inside the append (engines with `publishesLive`; ignored by the others). */
  live?: LivePublish;
  /**
   * Engines without `publishesLive` (memory, LMDB) call this exactly once, synchronously
   * inside the `append` call, with the seq and epoch the entry is given, BEFORE the entry
   * is durable, so the caller can deliver it live without waiting for the disk; never for
   * a duplicate or for an append refused before a seq was chosen. Engines with
   * `publishesLive` do not call it. It must not throw.
   *
   * When the append then rejects (the write failed), the seq is burnt: it is never
   * handed out again (the counter stays ahead of it, even though the stored record is
   * not), no entry with it is ever stored or replayed, and an ack naming it is clamped
   * like any ack past the last stored seq. A recipient that was shown the message live
   * may therefore hold a seq the inbox never stored; the sender got an error, not
   * `stored`, and resends.
   */
  onAssigned?: (seq: number, epoch: InboxEpoch) => void;
}

export interface InboxOptions {
  /** Keep at most this many unacknowledged entries per user; the oldest go first. */
  maxPerUser: number;
  /** Entries older than this (ms, from their timestamp) are removed. */
  ttlMs: number;
}

export interface Inbox {
  /**
   * True when `append` publishes `options.live` itself, atomically with the append, so
   * live frames leave in seq order across every node (Redis). False: the engine ignores
   * `options.live` and the caller publishes after the append (memory, LMDB).
   */
  readonly publishesLive: boolean;

  /**
   * Appends an entry for `userId` and assigns it the next seq. Atomic per user: two
   * concurrent appends never get the same seq, and seq order is append order. The
   * returned promise resolves only when the entry is durable for this implementation
   * (for LMDB: committed to disk). Trims the oldest entries past maxPerUser and
   * counts them as dropped (see takeDropped). See AppendOptions for de-duplication,
   * live publishing and early seq assignment (`onAssigned`).
   */
  append(userId: string, entry: NewInboxEntry, options?: AppendOptions): Promise<AppendResult>;

  /** Unexpired entries with seq > after, in seq order, at most `limit` of them. */
  read(userId: string, after: number, limit: number): Promise<InboxEntry[]>;

  /**
   * Removes every entry with seq <= upTo and returns the removed entries in seq order
   * (the caller sends delivery receipts for them). Acknowledging an already
   * acknowledged range returns []. upTo beyond the last assigned seq is clamped.
   * With `epoch`, the ack applies only if it is the user's current epoch: an ack
   * naming another epoch (its seqs are from a counter that no longer exists) removes
   * nothing and returns []. Without it, the ack applies to the current epoch. The
   * epoch check and the removal are one atomic step.
   */
  ack(userId: string, upTo: number, epoch?: InboxEpoch): Promise<InboxEntry[]>;

  /**
   * First removes the user's entries that have expired by TTL (counting them as
   * dropped), then returns the number of entries lost (trimmed by maxPerUser or
   * expired) since the last call, and resets it to 0. So a user who comes back is told
   * about messages that expired while away, not only about trimmed ones. The gateway reports it to the user as
   * `{type:"sync", data:{dropped}}` so that no loss is silent.
   */
  takeDropped(userId: string): Promise<number>;

  /** The last seq assigned to the user (0 if none). Survives restarts for durable engines. */
  lastSeq(userId: string): Promise<number>;

  /** Removes expired entries of every user (counting them as dropped); returns how many. */
  sweep(now?: number): Promise<number>;

  /** Flushes and releases resources. No call may follow. */
  close(): Promise<void>;
}
