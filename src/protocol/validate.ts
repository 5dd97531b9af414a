/**
 * Validation of decoded client frames: a generic walk that keeps untrusted values
 * JSON-shaped and bounded, then the envelope and per-type `data` checks that turn
 * the value into a typed ClientFrame. Every failure is GatewayError('BAD_REQUEST')
 * whose message names the offending field and what was expected.
 */
import { GatewayError } from '../errors.js';
import { SETTABLE_STATUSES, type ClientFrame, type ClientFrameType } from './frames.js';

export interface CodecLimits {
  /** Nesting deeper than this is BAD_REQUEST; the envelope itself is depth 1. */
  maxDepth: number;
  /** Longest string value or map key, in UTF-16 code units. */
  maxStringLength: number;
  /** Longest array anywhere in a frame. */
  maxArrayLength: number;
  /** Longest `users` list of watch, unwatch and presence. */
  maxUsersPerList: number;
  /** Longest envelope `id`, in UTF-16 code units. */
  maxIdLength: number;
}

export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxDepth: 32,
  maxStringLength: 65536,
  maxArrayLength: 10000,
  maxUsersPerList: 1000,
  maxIdLength: 64,
});

// A record, not a list, so adding a client frame type to frames.ts without listing it here fails to compile
// (buildFrame's switch must then handle it too). Key order is the order error messages list the types in.
const CLIENT_TYPES: Record<ClientFrameType, true> = {
  message: true, join: true, leave: true, group: true, broadcast: true, ping: true,
  status: true, watch: true, unwatch: true, presence: true, ack: true, sync: true, history: true, refresh: true,
};
export const CLIENT_FRAME_TYPES = Object.keys(CLIENT_TYPES) as readonly ClientFrameType[];
const CLIENT_TYPE_SET: ReadonlySet<string> = new Set(CLIENT_FRAME_TYPES);

/** Keys that could reach an object's prototype chain when a consumer copies or merges a value. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** String.prototype.isWellFormed (Node 20+; the ES2022 lib used here does not declare it). */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

const NAME_RE = /^[\p{L}\p{N}_\-.:@]+$/u;
const NAME_MAX = 128;

function isName(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  if (value.length > NAME_MAX) {
    // The limit counts characters (code points): astral letters take two code units each.
    if (value.length > NAME_MAX * 2) return false;
    let points = 0;
    for (const _ of value) if (++points > NAME_MAX) return false;
  }
  return NAME_RE.test(value);
}

/** A user id: 1-128 characters, each a letter, a digit or one of `_-.:@` (no spaces, no `*`, no control characters). */
export function isUserId(value: unknown): value is string {
  return isName(value);
}

/** A group name: same alphabet and length as a user id. */
export function isGroupName(value: unknown): value is string {
  return isName(value);
}

const USER_ID_EXPECTED = 'expected a user id (1-128 chars of letters, digits, _-.:@)';
const GROUP_EXPECTED = 'expected a group name (1-128 chars of letters, digits, _-.:@)';

function bad(message: string): GatewayError {
  return new GatewayError('BAD_REQUEST', message);
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'non-plain'} object`;
  return `a ${typeof value}`;
}

/** An own property only: a value read off Object.prototype must never count as sent. */
function own(object: PlainObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

// ---- generic value walk ---------------------------------------------------------

interface Item {
  value: unknown;
  /** Containers enclosing this value (the envelope itself has 0). */
  depth: number;
  parent: Item | undefined;
  key: string | number | undefined;
}

const IDENT_RE = /^[A-Za-z_$][\w$]*$/;

function pathOf(item: Item): string {
  const keys: (string | number)[] = [];
  for (let at: Item | undefined = item; at?.parent !== undefined; at = at.parent) keys.push(at.key!);
  if (keys.length === 0) return 'frame';
  let path = typeof keys[keys.length - 1] === 'number' ? 'frame' : '';
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i];
    if (typeof key === 'number') path += `[${key}]`;
    else if (IDENT_RE.test(key)) path += path === '' ? key : `.${key}`;
    else path += `[${JSON.stringify(key.length > 40 ? key.slice(0, 40) + '…' : key)}]`;
  }
  return path;
}

/**
 * Checks a freshly decoded value, iteratively (any depth is safe): only plain objects,
 * arrays, strings, finite numbers, booleans and null; nesting at most `maxDepth`
 * containers; strings (keys too) at most `maxStringLength` and well-formed UTF-16;
 * arrays at most `maxArrayLength`; no `__proto__`, `constructor` or `prototype` key.
 * A bigint (an int64 beyond 2^53 from MessagePack) is replaced in place by its decimal
 * string. Returns the checked value (a different value only when the root was a bigint).
 * @throws GatewayError('BAD_REQUEST') naming the path of the first problem found.
 */
export function checkValue(root: unknown, limits: CodecLimits): unknown {
  const rootItem: Item = { value: root, depth: 0, parent: undefined, key: undefined };
  const stack: Item[] = [rootItem];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    let value = item.value;
    if (typeof value === 'bigint') {
      value = value.toString();
      if (item.parent === undefined) rootItem.value = value;
      else (item.parent.value as Record<string | number, unknown>)[item.key!] = value;
    }
    switch (typeof value) {
      case 'string':
        if (value.length > limits.maxStringLength) {
          throw bad(`${pathOf(item)}: string longer than ${limits.maxStringLength} characters`);
        }
        if (!isWellFormed(value)) throw bad(`${pathOf(item)}: string is not well-formed Unicode (lone surrogate)`);
        continue;
      case 'number':
        if (!Number.isFinite(value)) throw bad(`${pathOf(item)}: number must be finite, got ${value}`);
        continue;
      case 'boolean':
        continue;
      case 'object': {
        if (value === null) continue;
        const depth = item.depth + 1;
        if (Array.isArray(value)) {
          if (depth > limits.maxDepth) throw bad(`${pathOf(item)}: nesting deeper than ${limits.maxDepth} levels`);
          if (value.length > limits.maxArrayLength) {
            throw bad(`${pathOf(item)}: array longer than ${limits.maxArrayLength} elements`);
          }
          for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth, parent: item, key: i });
          continue;
        }
        if (isPlainObject(value)) {
          if (depth > limits.maxDepth) throw bad(`${pathOf(item)}: nesting deeper than ${limits.maxDepth} levels`);
          const keys = Object.keys(value);
          for (let i = keys.length - 1; i >= 0; i--) {
            const key = keys[i];
            if (FORBIDDEN_KEYS.has(key)) throw bad(`${pathOf(item)}: key '${key}' is not allowed`);
            if (key.length > limits.maxStringLength) {
              throw bad(`${pathOf(item)}: key longer than ${limits.maxStringLength} characters`);
            }
            if (!isWellFormed(key)) throw bad(`${pathOf(item)}: key is not well-formed Unicode (lone surrogate)`);
            stack.push({ value: value[key], depth, parent: item, key });
          }
          continue;
        }
        throw bad(`${pathOf(item)}: ${describe(value)} is not a JSON value`);
      }
      default:
        throw bad(`${pathOf(item)}: ${typeof value} is not a JSON value`);
    }
  }
  return rootItem.value;
}

// ---- envelope and per-type data -------------------------------------------------

/** The envelope's `id` when it is a valid one (so an error reply can echo it), else undefined. */
export function envelopeId(value: unknown, limits: CodecLimits): string | undefined {
  if (!isPlainObject(value)) return undefined;
  const id = own(value, 'id');
  return isValidId(id, limits) ? id : undefined;
}

function isValidId(id: unknown, limits: CodecLimits): id is string {
  return typeof id === 'string' && id.length >= 1 && id.length <= limits.maxIdLength;
}

function userId(data: PlainObject, field: string): string {
  const value = own(data, field);
  if (!isUserId(value)) throw bad(`data.${field}: ${USER_ID_EXPECTED}`);
  return value;
}

function groupName(data: PlainObject): string {
  const value = own(data, 'group');
  if (!isGroupName(value)) throw bad(`data.group: ${GROUP_EXPECTED}`);
  return value;
}

function content(data: PlainObject): unknown {
  if (!Object.hasOwn(data, 'content')) throw bad('data.content: required (any JSON value, null included)');
  return data.content;
}

function userList(data: PlainObject, limits: CodecLimits): string[] {
  const users = own(data, 'users');
  if (!Array.isArray(users) || users.length === 0 || users.length > limits.maxUsersPerList) {
    throw bad(`data.users: expected an array of 1-${limits.maxUsersPerList} user ids`);
  }
  for (let i = 0; i < users.length; i++) {
    if (!isUserId(users[i])) throw bad(`data.users[${i}]: ${USER_ID_EXPECTED}`);
  }
  return users as string[];
}

function counter(data: PlainObject, field: string, path = `data.${field}`, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = own(data, field);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(`${path}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** Longest history epoch a client may send back (the gateway's own are much shorter). */
export const MAX_EPOCH_LENGTH = 64;
/** Most messages one `history` request returns, and the default. */
export const HISTORY_MAX_LIMIT = 100;
export const HISTORY_DEFAULT_LIMIT = 50;

function since(data: PlainObject): { offset: number; epoch: string } | undefined {
  const value = own(data, 'since');
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw bad(`data.since: expected an object {offset, epoch}, got ${describe(value)}`);
  const offset = counter(value, 'offset', 'data.since.offset');
  const epoch = own(value, 'epoch');
  // '' is the epoch of a group that had no history yet, as the gateway reported it.
  if (typeof epoch !== 'string' || epoch.length > MAX_EPOCH_LENGTH) {
    throw bad(`data.since.epoch: expected a string of 0-${MAX_EPOCH_LENGTH} characters`);
  }
  return { offset, epoch };
}

function quoteType(type: string): string {
  return type.length > 40 ? `${type.slice(0, 40)}…` : type;
}

/**
 * Turns a checked value into a ClientFrame. The result is built from the known fields
 * only: unknown top-level keys and unknown keys of `data` are dropped, and `id` is
 * present only when sent. Content values are passed through as decoded.
 * @throws GatewayError('BAD_REQUEST') naming the first invalid field.
 */
export function toClientFrame(value: unknown, limits: CodecLimits): ClientFrame {
  if (!isPlainObject(value)) throw bad(`frame: expected an object {type, id?, data?}, got ${describe(value)}`);
  const id = own(value, 'id');
  if (id !== undefined && !isValidId(id, limits)) throw bad(`id: expected a string of 1-${limits.maxIdLength} characters`);
  const type = own(value, 'type');
  if (typeof type !== 'string') {
    throw bad(`type: expected a string, one of ${CLIENT_FRAME_TYPES.join(', ')}`);
  }
  if (!CLIENT_TYPE_SET.has(type)) throw bad(`unknown type '${quoteType(type)}'`);
  const rawData = own(value, 'data');
  if (rawData !== undefined && !isPlainObject(rawData)) throw bad(`data: expected an object, got ${describe(rawData)}`);
  if (rawData === undefined && type !== 'ping') throw bad(`data: required for type '${type}'`);
  const data = rawData ?? {};
  const frame = buildFrame(type as ClientFrameType, data, limits);
  if (id !== undefined) frame.id = id;
  return frame;
}

function buildFrame(type: ClientFrameType, data: PlainObject, limits: CodecLimits): ClientFrame {
  switch (type) {
    case 'message': {
      const to = userId(data, 'to');
      const body = content(data);
      if (own(data, 'from') === undefined) return { type, data: { to, content: body } };
      return { type, data: { to, content: body, from: userId(data, 'from') } };
    }
    case 'join': {
      const group = groupName(data);
      const position = since(data);
      return position === undefined ? { type, data: { group } } : { type, data: { group, since: position } };
    }
    case 'leave':
      return { type, data: { group: groupName(data) } };
    case 'group': {
      const group = groupName(data);
      const body = content(data);
      const important = own(data, 'important');
      if (important === undefined) return { type, data: { group, content: body } };
      if (typeof important !== 'boolean') throw bad(`data.important: expected true or false, got ${describe(important)}`);
      return { type, data: { group, content: body, important } };
    }
    case 'history': {
      const group = groupName(data);
      const out: { group: string; before?: number; limit: number } = {
        group,
        limit: own(data, 'limit') === undefined ? HISTORY_DEFAULT_LIMIT : counter(data, 'limit', 'data.limit', 1, HISTORY_MAX_LIMIT),
      };
      if (own(data, 'before') !== undefined) out.before = counter(data, 'before', 'data.before', 1);
      return { type, data: out };
    }
    case 'broadcast':
      return { type, data: { content: content(data) } };
    case 'ping':
      return { type };
    case 'status': {
      const status = own(data, 'status');
      if (!(SETTABLE_STATUSES as readonly unknown[]).includes(status)) {
        throw bad(`data.status: expected one of ${SETTABLE_STATUSES.join(', ')}`);
      }
      return { type, data: { status: status as (typeof SETTABLE_STATUSES)[number] } };
    }
    case 'watch':
    case 'unwatch':
      return { type, data: { users: userList(data, limits) } };
    case 'presence': {
      const hasUsers = own(data, 'users') !== undefined;
      const hasGroup = own(data, 'group') !== undefined;
      if (hasUsers === hasGroup) throw bad('data: expected exactly one of users (an array of user ids) or group');
      return hasUsers ? { type, data: { users: userList(data, limits) } } : { type, data: { group: groupName(data) } };
    }
    case 'ack': {
      const upTo = counter(data, 'upTo');
      const epoch = own(data, 'epoch');
      if (epoch === undefined) return { type, data: { upTo } };
      if (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > MAX_EPOCH_LENGTH) {
        throw bad(`data.epoch: expected a string of 1 to ${MAX_EPOCH_LENGTH} characters`);
      }
      return { type, data: { upTo, epoch } };
    }
    case 'sync':
      return { type, data: { after: counter(data, 'after') } };
    case 'refresh': {
      // Only the shape here: the authenticator bounds its length and verifies it.
      const token = own(data, 'token');
      if (typeof token !== 'string' || token.length === 0) throw bad('data.token: expected a non-empty string (a JWT)');
      return { type, data: { token } };
    }
  }
}
