/**
 * The per-user durable inbox: the single mechanism for offline messages, delivery
 * receipts and replay. Every direct message (and every HTTP push to a user) is
 * appended to its recipient's inbox before the sender is acknowledged, and stays
 * there until the recipient acknowledges it (cumulatively, by seq), it is trimmed
 * by MaxPerUser, or it expires after TTL.
 */

/** One stored message. `seq` is assigned by the inbox; everything else by the caller. */
export interface InboxEntry {
  /** Per-user sequence number: starts at 1, strictly increasing, never reused (not even after ack or trim). */
  seq: number;
  /** Server-assigned unique message id; clients de-duplicate on it. */
  mid: string;
  from: string;
  to: string;
  content: unknown;
  /** Milliseconds since the epoch at which the gateway accepted the message. */
  timestamp: number;
}

export type NewInboxEntry = Omit<InboxEntry, 'seq'>;

export interface AppendResult {
  /** The seq assigned to the appended entry. */
  seq: number;
  /** How many of the user's oldest entries this append pushed out (MaxPerUser). */
  dropped: number;
}

export interface InboxOptions {
  /** Keep at most this many unacknowledged entries per user; the oldest go first. */
  maxPerUser: number;
  /** Entries older than this (ms, from their timestamp) are removed. */
  ttlMs: number;
}

export interface Inbox {
  /**
   * Appends an entry for `userId` and assigns it the next seq. Atomic per user: two
   * concurrent appends never get the same seq, and seq order is append order. The
   * returned promise resolves only when the entry is durable for this implementation
   * (for LMDB: committed to disk). Trims the oldest entries past maxPerUser and
   * counts them as dropped (see takeDropped).
   */
  append(userId: string, entry: NewInboxEntry): Promise<AppendResult>;

  /** Unexpired entries with seq > after, in seq order, at most `limit` of them. */
  read(userId: string, after: number, limit: number): Promise<InboxEntry[]>;

  /**
   * Removes every entry with seq <= upTo and returns the removed entries in seq order
   * (the caller sends delivery receipts for them). Acknowledging an already
   * acknowledged range returns []. upTo beyond the last assigned seq is clamped.
   */
  ack(userId: string, upTo: number): Promise<InboxEntry[]>;

  /**
   * The number of entries lost (trimmed by maxPerUser or expired by TTL) since the
   * last call, and resets it to 0. The gateway reports it to the user as
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
