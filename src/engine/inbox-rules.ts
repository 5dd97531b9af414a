/**
 * Argument checks and the expiry rule shared by every Inbox engine, so that the
 * memory, LMDB and Redis engines accept and reject exactly the same input and agree
 * on when an entry has expired. Bad arguments that can come from a client (user id,
 * seq cursors, entries) reject with GatewayError('BAD_REQUEST'); bad engine options
 * are configuration mistakes and throw a RangeError at construction.
 */
import { GatewayError } from '../errors.js';
import type { InboxOptions, NewInboxEntry } from './inbox.js';

/**
 * Longest accepted user id, in UTF-8 bytes. LMDB keys are limited to about 1.9 KB and
 * the user id appears inside composite keys, so the bound is kept well below that.
 */
export const MAX_USER_ID_BYTES = 512;

/** Validates engine options; returns them unchanged so callers can write `this.opts = checkOptions(opts)`. */
export function checkOptions(opts: InboxOptions): InboxOptions {
  if (opts === null || typeof opts !== 'object') {
    throw new RangeError('inbox: options must be an object { maxPerUser, ttlMs }');
  }
  if (!Number.isSafeInteger(opts.maxPerUser) || opts.maxPerUser < 1) {
    throw new RangeError(`inbox: maxPerUser must be an integer >= 1, got ${String(opts.maxPerUser)}`);
  }
  // Infinity is allowed and means "never expires".
  if (typeof opts.ttlMs !== 'number' || Number.isNaN(opts.ttlMs) || opts.ttlMs <= 0) {
    throw new RangeError(`inbox: ttlMs must be a number > 0 (Infinity: never expire), got ${String(opts.ttlMs)}`);
  }
  return opts;
}

export function checkUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0) {
    throw new GatewayError('BAD_REQUEST', 'inbox: userId must be a non-empty string');
  }
  if (Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES) {
    throw new GatewayError('BAD_REQUEST', `inbox: userId is longer than ${MAX_USER_ID_BYTES} bytes`);
  }
}

/** A seq cursor (`after`, `upTo`) or a count (`limit`): a non-negative safe integer. */
export function checkCount(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new GatewayError('BAD_REQUEST', `inbox: ${name} must be an integer >= 0, got ${String(value)}`);
  }
}

export function checkEntry(entry: unknown): asserts entry is NewInboxEntry {
  if (entry === null || typeof entry !== 'object') {
    throw new GatewayError('BAD_REQUEST', 'inbox: entry must be an object');
  }
  const e = entry as Record<string, unknown>;
  for (const field of ['mid', 'from', 'to'] as const) {
    if (typeof e[field] !== 'string') {
      throw new GatewayError('BAD_REQUEST', `inbox: entry.${field} must be a string`);
    }
  }
  if (typeof e.timestamp !== 'number' || !Number.isFinite(e.timestamp)) {
    throw new GatewayError('BAD_REQUEST', 'inbox: entry.timestamp must be a finite number (ms since epoch)');
  }
  if (e.content === undefined) {
    throw new GatewayError('BAD_REQUEST', 'inbox: entry.content must be a JSON value (not undefined)');
  }
}

/**
 * The one expiry rule: an entry has expired once it is strictly older than ttlMs,
 * i.e. `now - timestamp > ttlMs`. An entry exactly ttlMs old is still readable.
 */
export function isExpired(timestamp: number, now: number, ttlMs: number): boolean {
  // Written against the cutoff so that range scans (timestamp < cutoff) and this
  // per-entry test round identically.
  return timestamp < expiryCutoff(now, ttlMs);
}

/** Timestamps strictly below this cutoff have expired at `now` (-Infinity when ttlMs is Infinity). */
export function expiryCutoff(now: number, ttlMs: number): number {
  return now - ttlMs;
}

/** The error every engine raises when called after close(). */
export function closedError(): Error {
  return new GatewayError('UNAVAILABLE', 'inbox is closed');
}
