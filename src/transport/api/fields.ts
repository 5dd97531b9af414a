/**
 * Field checks for API bodies, paths and queries. Each failure is BAD_REQUEST naming
 * the field (`body.to[3]`, `path.group`, `query.users`) and what was expected, in the
 * same words as the WebSocket validation.
 */
import { GatewayError } from '../../errors.js';
import { SYSTEM_USER } from '../../core/auth.js';
import { isGroupName, isUserId } from '../../protocol/validate.js';

const USER_ID = 'expected a user id (1-128 chars of letters, digits, _-.:@)';
const GROUP = 'expected a group name (1-128 chars of letters, digits, _-.:@)';
/** WebSocket close reasons are at most 123 bytes of UTF-8. */
export const MAX_REASON_BYTES = 123;

function bad(message: string): GatewayError {
  return new GatewayError('BAD_REQUEST', message);
}

function own(body: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(body, key) ? body[key] : undefined;
}

export function userParam(value: string, name: string): string {
  if (!isUserId(value)) throw bad(`path.${name}: ${USER_ID}`);
  return value;
}

export function groupParam(value: string): string {
  if (!isGroupName(value)) throw bad(`path.group: ${GROUP}`);
  return value;
}

/** `content`: required, any JSON value (null included), at most `maxBytes` as JSON. */
export function content(body: Readonly<Record<string, unknown>>, maxBytes: number): unknown {
  if (!Object.hasOwn(body, 'content')) throw bad('body.content: required (any JSON value, null included)');
  const value = body['content'];
  // The client limit is on the frame; the content alone gets the same budget.
  const size = Buffer.byteLength(JSON.stringify(value) ?? 'null', 'utf8');
  if (size > maxBytes) {
    throw new GatewayError('TOO_LARGE', `body.content: ${size} bytes as JSON, more than Limits.MaxMessageBytes (${maxBytes})`);
  }
  return value;
}

/** `from`: optional user id; the backend's own id "system" when absent. */
export function sender(body: Readonly<Record<string, unknown>>): string {
  const value = own(body, 'from');
  if (value === undefined) return SYSTEM_USER;
  if (!isUserId(value)) throw bad(`body.from: ${USER_ID}`);
  return value;
}

/** `important`: optional boolean, false when absent (keeps a group message in history, see docs/protocol.md). */
export function important(body: Readonly<Record<string, unknown>>): boolean {
  const value = own(body, 'important');
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw bad('body.important: expected true or false');
  return value;
}

/** A user id or a list of 1..max distinct user ids, as a list. */
export function recipients(body: Readonly<Record<string, unknown>>, field: string, max: number, single: boolean): string[] {
  const value = own(body, field);
  if (single && typeof value === 'string') {
    if (!isUserId(value)) throw bad(`body.${field}: ${USER_ID}`);
    return [value];
  }
  const expected = single ? `a user id or an array of 1-${max} user ids` : `an array of 1-${max} user ids`;
  if (!Array.isArray(value) || value.length === 0 || value.length > max) throw bad(`body.${field}: expected ${expected}`);
  const seen = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    const user: unknown = value[i];
    if (!isUserId(user)) throw bad(`body.${field}[${i}]: ${USER_ID}`);
    if (seen.has(user)) throw bad(`body.${field}[${i}]: duplicate user id ${JSON.stringify(user)}`);
    seen.add(user);
  }
  return value as string[];
}

/** `users=a,b,c` in the query: 1..max user ids, duplicates dropped. */
export function userQuery(query: URLSearchParams, max: number): string[] {
  const raw = query.get('users');
  if (raw === null || raw === '') throw bad('query.users: required, a comma-separated list of user ids');
  const users = raw.split(',');
  if (users.length > max) throw bad(`query.users: at most ${max} user ids`);
  for (let i = 0; i < users.length; i++) {
    if (!isUserId(users[i])) throw bad(`query.users[${i}]: ${USER_ID}`);
  }
  return [...new Set(users)];
}

/** `reason`: optional text for the close frame, at most 123 bytes of UTF-8. */
export function closeReason(body: Readonly<Record<string, unknown>>, fallback: string): string {
  const value = own(body, 'reason');
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || Buffer.byteLength(value, 'utf8') > MAX_REASON_BYTES) {
    throw bad(`body.reason: expected a string of at most ${MAX_REASON_BYTES} bytes (UTF-8)`);
  }
  return value;
}
