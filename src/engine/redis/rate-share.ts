import { Cluster, type ChainableCommander } from 'ioredis';
import type { Logger } from '../../log.js';
import type { RateShare } from '../rate-share.js';
import { redisCall, toRedisError, type RedisClient } from './connection.js';
import { isNoScript, LuaScript, preloadScripts } from './script.js';
import { keySlot } from './slot.js';

export interface RedisRateShareOptions {
  /** A command connection from createRedis; shared with other engines, so close() leaves it open. */
  client: RedisClient;
  /** Prefix of every key (RedisConfig.keyPrefix). */
  keyPrefix: string;
  /** How long a user's tally outlives its last exchange. Default 10 s (many exchange intervals). */
  idleTtlMs?: number;
  log?: Logger;
}

/**
 * KEYS tally; ARGV nodeId count ttl → frames other nodes added since this node's last exchange.
 * The tally is a hash: t = total frames of the user on every node; s:<node> = the total
 * this node saw after its previous exchange. Others = (t now - t then) - own count.
 * A node's first exchange for a user (or after the tally idled out) reports 0: it has no baseline.
 */
const EXCHANGE = new LuaScript(`
local own = tonumber(ARGV[2])
local total = redis.call('HINCRBY', KEYS[1], 't', own)
local field = 's:' .. ARGV[1]
local before = redis.call('HGET', KEYS[1], field)
redis.call('HSET', KEYS[1], field, total)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if not before then return 0 end
local others = total - tonumber(before) - own
if others < 0 then return 0 end
return others
`);

/**
 * Per-user frame counts shared through Redis. One exchange is one pipeline of short
 * scripts (one per user, atomic per user); with a cluster, one pipeline per master,
 * since a pipeline must stay on one node. Tallies expire when a user goes quiet.
 */
export class RedisRateShare implements RateShare {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #unload: () => void;
  #closed = false;

  constructor(options: RedisRateShareOptions) {
    if (typeof options.keyPrefix !== 'string') throw new TypeError('keyPrefix must be a string');
    const ttl = options.idleTtlMs ?? 10_000;
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`idleTtlMs must be an integer >= 1, got ${String(ttl)}`);
    this.#client = options.client;
    this.#prefix = options.keyPrefix;
    this.#ttl = ttl;
    this.#unload = preloadScripts(options.client, [EXCHANGE], options.log);
  }

  async exchange(nodeId: string, counts: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    if (this.#closed) throw new Error('rate share is closed');
    if (typeof nodeId !== 'string' || nodeId.length === 0) throw new TypeError('nodeId must be a non-empty string');
    const users: string[] = [];
    for (const [userId, n] of counts) {
      if (typeof userId !== 'string' || userId.length === 0) throw new TypeError('user ids must be non-empty strings');
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`counts must be integers >= 0, got ${String(n)} for ${userId}`);
      users.push(userId);
    }
    const out = new Map<string, number>();
    if (users.length === 0) return out;
    await Promise.all(this.#groups(users).map(async (group) => {
      const pipeline = this.#client.pipeline();
      for (const userId of group) EXCHANGE.queue(pipeline, [this.#key(userId)], [nodeId, counts.get(userId)!, this.#ttl]);
      const replies = await run(pipeline);
      await Promise.all(group.map(async (userId, i) => {
        let [err, value] = replies[i] ?? [new Error('no reply'), null];
        // The script cache was flushed (Redis restarted): run this one with EVAL.
        if (err !== null && isNoScript(err)) {
          value = await EXCHANGE.run(this.#client, [this.#key(userId)], [nodeId, counts.get(userId)!, this.#ttl]);
          err = null;
        }
        if (err !== null) throw toRedisError(err);
        const others = Number(value);
        if (others > 0) out.set(userId, others);
      }));
    }));
    return out;
  }

  /** Marks it closed; the shared connection stays open (its owner closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unload();
  }

  #key(userId: string): string {
    return `${this.#prefix}{r:${userId}}`;
  }

  /** Users grouped so that each group's keys live on one server (a single group without a cluster). */
  #groups(users: string[]): string[][] {
    const client = this.#client;
    if (!(client instanceof Cluster)) return [users];
    const byNode = new Map<string, string[]>();
    for (const userId of users) {
      // Unknown slot owner (slot map not loaded yet): a group of its own, routed by ioredis.
      const node = client.slots[keySlot(this.#key(userId))]?.[0] ?? `?${userId}`;
      const group = byNode.get(node) ?? [];
      group.push(userId);
      byNode.set(node, group);
    }
    return [...byNode.values()];
  }
}

async function run(pipeline: ChainableCommander): Promise<[Error | null, unknown][]> {
  const replies = await redisCall(() => pipeline.exec());
  if (replies === null) throw toRedisError(new Error('pipeline aborted'));
  return replies;
}
