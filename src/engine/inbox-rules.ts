/**
 * Argument checks and the expiry rule shared by every Inbox engine, so that the
 * memory, LMDB and Redis engines accept and reject exactly the same input and agree
 * on when an entry has expired. Bad arguments that can come from a client (user id,
 * seq cursors, entries) reject with GatewayError('BAD_REQUEST'); bad engine options
 * are configuration mistakes and throw a RangeError at construction.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { AppendOptions, InboxOptions, NewInboxEntry } from './inbox.js';

/**
 * Longest accepted user id, in UTF-8 bytes. LMDB keys are limited to about 1.9 KB and
 * the user id appears inside composite keys, so the bound is kept well below that.
 */
export const MAX_USER_ID_BYTES = 512;

/** Length of an epoch; its alphabet is [0-9a-z]. */
export const EPOCH_LENGTH = 12;

/** Longest accepted de-duplication key, in UTF-8 bytes (it is part of LMDB and Redis keys). */
export const MAX_DEDUP_KEY_BYTES = 256;

const EPOCH_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * A fresh random epoch: 12 characters of [0-9a-z], about 62 bits, so two lives of one
 * user's counter practically never share one. (256 % 36 = 4: the bias toward the first
 * four characters is irrelevant for an identifier that only has to differ.)
 */
export function newEpoch(): string {
  const bytes = randomBytes(EPOCH_LENGTH);
  let out = '';
  for (const b of bytes) out += EPOCH_ALPHABET[b % 36];
  return out;
}

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

/** An epoch argument (ack): undefined, or a string (any other string simply matches no epoch). */
export function checkEpoch(epoch: unknown): asserts epoch is string | undefined {
  if (epoch !== undefined && typeof epoch !== 'string') {
    throw new GatewayError('BAD_REQUEST', 'inbox: epoch must be a string');
  }
}

/** Validates append options; the live frame's placeholders must lie inside its payload. */
export function checkAppendOptions(options: unknown): asserts options is AppendOptions | undefined {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object') {
    throw new GatewayError('BAD_REQUEST', 'inbox: append options must be an object');
  }
  const { dedup, live, onAssigned } = options as AppendOptions;
  if (onAssigned !== undefined && typeof onAssigned !== 'function') throw new GatewayError('BAD_REQUEST', 'inbox: onAssigned must be a function');
  if (dedup !== undefined) {
    if (dedup === null || typeof dedup !== 'object') throw new GatewayError('BAD_REQUEST', 'inbox: dedup must be { key, ttlMs }');
    if (typeof dedup.key !== 'string' || dedup.key.length === 0 || Buffer.byteLength(dedup.key, 'utf8') > MAX_DEDUP_KEY_BYTES) {
      throw new GatewayError('BAD_REQUEST', `inbox: dedup.key must be a non-empty string of at most ${MAX_DEDUP_KEY_BYTES} bytes`);
    }
    if (!Number.isSafeInteger(dedup.ttlMs) || dedup.ttlMs < 1) {
      throw new GatewayError('BAD_REQUEST', `inbox: dedup.ttlMs must be an integer >= 1, got ${String(dedup.ttlMs)}`);
    }
  }
  if (live !== undefined) {
    if (live === null || typeof live !== 'object') throw new GatewayError('BAD_REQUEST', 'inbox: live must be an object');
    if (typeof live.topic !== 'string' || live.topic.length === 0) throw new GatewayError('BAD_REQUEST', 'inbox: live.topic must be a non-empty string');
    if (typeof live.origin !== 'string' || live.origin.length === 0) throw new GatewayError('BAD_REQUEST', 'inbox: live.origin must be a non-empty string');
    if (!(live.payload instanceof Uint8Array)) throw new GatewayError('BAD_REQUEST', 'inbox: live.payload must be a Uint8Array');
    const fits = (at: unknown, size: number): boolean =>
      Number.isSafeInteger(at) && (at as number) >= 0 && (at as number) + size <= live.payload.length;
    if (!fits(live.epochAt, EPOCH_LENGTH)) throw new GatewayError('BAD_REQUEST', 'inbox: live.epochAt must leave 12 bytes inside the payload');
    if (!fits(live.seqAt, 4)) throw new GatewayError('BAD_REQUEST', 'inbox: live.seqAt must leave 4 bytes inside the payload');
    if (live.seqAt + 4 > live.epochAt && live.epochAt + EPOCH_LENGTH > live.seqAt) {
      throw new GatewayError('BAD_REQUEST', 'inbox: live.epochAt and live.seqAt overlap');
    }
  }
}

/** A de-duplication record is still in force `now` when it was written at most ttlMs ago. */
export function dedupHolds(writtenAt: number, now: number, ttlMs: number): boolean {
  return now - writtenAt <= ttlMs;
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
