/**
 * Per-group message history: what lets a member that lost its connection come back
 * and get exactly what it missed (recovery), and lets members page back through a
 * group's past. Only groups whose rule has History, and `important` messages, are
 * kept here.
 *
 * Positions: every appended message gets the group's next `offset` (1, 2, 3, …),
 * assigned atomically with the append and never reused within an `epoch`. The epoch
 * is an opaque string that names one unbroken life of the group's history: it
 * changes whenever the engine may have lost messages or its counter (a memory engine
 * restarted, a Redis key expired or was wiped, an LMDB file replaced), so that a
 * client holding an offset of the old life is never told that nothing was missed.
 */

import { GatewayError } from '../errors.js';

/** One kept group message. */
export interface HistoryEntry {
  /** Position within the epoch: starts at 1, strictly increasing in append order. */
  offset: number;
  mid: string;
  from: string;
  content: unknown;
  /** Milliseconds since the epoch at which the gateway accepted the message. */
  timestamp: number;
  /** Kept because the sender marked it important. */
  important?: true;
}

export type NewHistoryEntry = Omit<HistoryEntry, 'offset'>;

/** How much one append may keep: the group's rule History, or Groups.ImportantHistory. */
export interface RetentionLimits {
  /** Keep at most this many messages in the group; the oldest go first. */
  size: number;
  /** A message is gone this many ms after its timestamp. */
  ttlMs: number;
}

/** What a read saw: the entries and the group's position at that moment. */
export interface HistoryPage {
  /** The group's current epoch (a fresh one when the group has no history yet). */
  epoch: string;
  /** The last offset assigned in this epoch (0: none yet). */
  offset: number;
  /** Entries in increasing offset order. */
  entries: HistoryEntry[];
}

export interface GroupHistory {
  /**
   * Appends a message to the group's history and assigns it the next offset. Atomic
   * per group (cluster-wide for Redis): two concurrent appends never get the same
   * offset, and offset order is append order. Trims the group to `limits.size`
   * entries and drops its expired ones. Resolves once the entry is stored as durably
   * as the engine stores anything.
   */
  append(group: string, entry: NewHistoryEntry, limits: RetentionLimits): Promise<{ offset: number; epoch: string }>;

  /** Unexpired entries with offset > after, oldest first, at most `limit` of them. */
  read(group: string, after: number, limit: number): Promise<HistoryPage>;

  /**
   * The newest unexpired entries with offset < before (every offset when before is
   * undefined), at most `limit` of them, returned oldest first.
   */
  page(group: string, before: number | undefined, limit: number): Promise<HistoryPage>;

  /** Removes expired entries of every group; returns how many. */
  sweep(now?: number): Promise<number>;

  /** Releases resources (the durable engines flush). No call may follow. */
  close(): Promise<void>;
}

/** Longest accepted group name in UTF-8 bytes (it appears inside keys). */
export const MAX_GROUP_BYTES = 512;

// The argument checks every engine applies, so they accept and refuse the same input.

export function checkGroup(group: unknown): asserts group is string {
  if (typeof group !== 'string' || group.length === 0 || Buffer.byteLength(group, 'utf8') > MAX_GROUP_BYTES) {
    throw new GatewayError('BAD_REQUEST', `history: group must be a non-empty string of at most ${MAX_GROUP_BYTES} bytes`);
  }
}

export function checkCount(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new GatewayError('BAD_REQUEST', `history: ${name} must be an integer >= 0, got ${String(value)}`);
  }
}

export function checkLimits(limits: RetentionLimits): void {
  if (!Number.isSafeInteger(limits?.size) || limits.size < 1) throw new RangeError(`history: size must be an integer >= 1, got ${String(limits?.size)}`);
  if (!Number.isSafeInteger(limits.ttlMs) || limits.ttlMs < 1) throw new RangeError(`history: ttlMs must be an integer >= 1, got ${String(limits.ttlMs)}`);
}

export function checkEntry(entry: NewHistoryEntry): void {
  if (entry === null || typeof entry !== 'object' || typeof entry.mid !== 'string' || typeof entry.from !== 'string'
    || typeof entry.timestamp !== 'number' || !Number.isFinite(entry.timestamp) || entry.content === undefined) {
    throw new GatewayError('BAD_REQUEST', 'history: entry needs mid, from (strings), timestamp (a number) and content');
  }
}

/** The error every engine raises when called after close(). */
export function historyClosed(): GatewayError {
  return new GatewayError('UNAVAILABLE', 'history is closed');
}
