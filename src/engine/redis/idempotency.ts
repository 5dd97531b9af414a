import type { Logger } from '../../log.js';
import type { IdempotencyClaim, IdempotencyStore, StoredAnswer } from '../idempotency.js';
import type { RedisClient } from './connection.js';
import { LuaScript, preloadScripts } from './script.js';

/*
 * One string key per (scope, key): `p|<fingerprint>` while pending, `d|<fingerprint>|<answer JSON>`
 * when done, with a PX TTL (the lease, then the retention). Fingerprints are 64 hex
 * characters, so the fields split at fixed offsets.
 */

/** KEYS record; ARGV fingerprint leaseMs → the current value, or false after claiming. */
const BEGIN = new LuaScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], 'p|' .. ARGV[1], 'PX', ARGV[2])
return false
`);

/** KEYS record; ARGV fingerprint answer ttlMs → 1 when stored, 0 when the key belongs to another request. */
const FINISH = new LuaScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 3, 2 + string.len(ARGV[1])) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'd|' .. ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
`);

/** KEYS record; ARGV fingerprint → 1 when the pending claim was released. */
const ABANDON = new LuaScript(`
if redis.call('GET', KEYS[1]) == 'p|' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

export interface RedisIdempotencyOptions {
  /** A command connection from createRedis; shared with other engines, so close() leaves it open. */
  client: RedisClient;
  /** Prefix of every key (RedisConfig.keyPrefix). */
  keyPrefix: string;
  log?: Logger;
}

/**
 * Idempotency records in Redis, shared by every node: each operation is one Lua
 * script on one key, so the claim is atomic cluster-wide, and Redis expires records
 * by itself. The key's hash tag is the whole record id, so records spread over the
 * shards of a Redis Cluster.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #unload: () => void;
  #closed = false;

  constructor(options: RedisIdempotencyOptions) {
    if (typeof options.keyPrefix !== 'string') throw new TypeError('keyPrefix must be a string');
    this.#client = options.client;
    this.#prefix = options.keyPrefix;
    this.#unload = preloadScripts(options.client, [BEGIN, FINISH, ABANDON], options.log);
  }

  async begin(scope: string, key: string, fingerprint: string, leaseMs: number): Promise<IdempotencyClaim> {
    this.#check();
    const value = await BEGIN.run(this.#client, [this.#key(scope, key)], [fingerprint, Math.max(1, Math.round(leaseMs))]);
    if (value === null || value === false) return { state: 'claimed' };
    return parseRecord(String(value));
  }

  async finish(scope: string, key: string, fingerprint: string, answer: StoredAnswer, ttlMs: number): Promise<void> {
    this.#check();
    await FINISH.run(this.#client, [this.#key(scope, key)], [fingerprint, JSON.stringify(answer), Math.max(1, Math.round(ttlMs))]);
  }

  async abandon(scope: string, key: string, fingerprint: string): Promise<void> {
    this.#check();
    await ABANDON.run(this.#client, [this.#key(scope, key)], [fingerprint]);
  }

  /** Marks it closed; the shared connection stays open (its owner closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unload();
  }

  #key(scope: string, key: string): string {
    // The key is caller-chosen text: braces in it would change the hash tag, so it is
    // hex-encoded (the scope is already hex).
    return `${this.#prefix}{i:${scope}:${Buffer.from(key, 'utf8').toString('hex')}}`;
  }

  #check(): void {
    if (this.#closed) throw new Error('idempotency store is closed');
  }
}

function parseRecord(value: string): IdempotencyClaim {
  const bar = value.indexOf('|', 2);
  if (value.startsWith('p|')) return { state: 'pending', fingerprint: value.slice(2) };
  if (value.startsWith('d|') && bar > 0) {
    return { state: 'done', fingerprint: value.slice(2, bar), answer: JSON.parse(value.slice(bar + 1)) as StoredAnswer };
  }
  throw new Error(`malformed idempotency record ${JSON.stringify(value.slice(0, 40))}`);
}
