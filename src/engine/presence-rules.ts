/**
 * Argument checks and small rules shared by every PresenceStore engine, so that the
 * memory, LMDB and Redis engines accept and reject exactly the same input. A bad call
 * is a programming error (the service validated the client's input already), so it
 * throws at once instead of rejecting with a client-facing GatewayError.
 */
import { SETTABLE_STATUSES } from '../protocol/frames.js';
import type { ChosenStatus, PresenceRecord } from './presence.js';

const SETTABLE: ReadonlySet<string> = new Set(SETTABLE_STATUSES);

/** True for a status a user may choose (so not `offline`). */
export function isChosenStatus(status: unknown): status is ChosenStatus {
  return typeof status === 'string' && SETTABLE.has(status);
}

/** The record of a user the store knows nothing about. */
export function unknownPresence(): PresenceRecord {
  return { status: 'offline', connections: 0, online: false, lastSeen: 0 };
}

export function checkId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${name} must be a non-empty string, got ${typeof value === 'string' ? 'an empty string' : typeof value}`);
  }
}

export function checkTime(now: unknown): asserts now is number {
  if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) {
    throw new RangeError(`now must be a finite number of milliseconds >= 0, got ${String(now)}`);
  }
}

export function checkStatus(status: unknown): asserts status is ChosenStatus {
  if (!isChosenStatus(status)) {
    throw new TypeError(`status must be one of ${SETTABLE_STATUSES.join(', ')}, got ${String(status)}`);
  }
}
