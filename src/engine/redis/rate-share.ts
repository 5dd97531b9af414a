import type { Logger } from '../../log.js';
import type { RateShare } from '../rate-share.js';
import { redisCall, toRedisError, type RedisClient } from './connection.js';

export interface RedisRateShareOptions {
  /** A command connection from createRedis; shared with other engines, so close() leaves it open. */
  client: RedisClient;
  /** Prefix of every key (RedisConfig.keyPrefix). */
  keyPrefix: string;
  /** How long reports stay in the feed, and the feed outlives the last report. Default 10 s. */
  idleTtlMs?: number;
  /**
   * Reports older than this when read are not returned (a node that could not read for
   * longer starts again from the newest report). Default 1 s (five exchange intervals).
   */
  maxAgeMs?: number;
  log?: Logger;
}

/** Most reports one exchange reads; the rest wait for the next exchange. */
const READ_BATCH = 1000;

/** A stream entry as ioredis returns it: [id, [field, value, ...]]. */
type Entry = [string, string[]];

/**
 * Per-user frame counts shared through one Redis stream, the feed (`<prefix>{rate}:feed`).
 * An exchange is one round trip holding at most two commands: an XADD of one entry with
 * the users that sent frames here since the last exchange (none when nobody did) and an
 * XREAD of the entries other nodes added since this node's previous read. So the cost
 * follows activity: an idle node sends one XREAD per interval whatever number of users it
 * holds, and each report names only users that sent. Entry fields: `n` = node id first,
 * then one `<user> <count>` pair per user. The feed is trimmed (MINID, by Redis's clock as
 * read from entry ids) to `idleTtlMs` and expires when no node reports for that long.
 * All on one key: with `Type: cluster` the feed lives on one shard.
 */
export class RedisRateShare implements RateShare {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #ttl: number;
  readonly #maxAge: number;
  /** Id of the last entry read; undefined until the first exchange sets the baseline. */
  #cursor: string | undefined;
  /** performance.now() of the last successful read. */
  #readAt = 0;
  /** Newest Redis time seen in an entry id (ms); 0 before any. */
  #redisMs = 0;
  #closed = false;

  constructor(options: RedisRateShareOptions) {
    if (typeof options.keyPrefix !== 'string') throw new TypeError('keyPrefix must be a string');
    const ttl = options.idleTtlMs ?? 10_000;
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`idleTtlMs must be an integer >= 1, got ${String(ttl)}`);
    const maxAge = options.maxAgeMs ?? 1_000;
    if (!Number.isInteger(maxAge) || maxAge < 1) throw new RangeError(`maxAgeMs must be an integer >= 1, got ${String(maxAge)}`);
    this.#client = options.client;
    this.#key = `${options.keyPrefix}{rate}:feed`;
    this.#ttl = ttl;
    this.#maxAge = maxAge;
  }

  /**
   * Reports `counts` (users with 0 are left out of the report) and returns what other
   * nodes reported since this node's previous exchange, for every user they named.
   * The first exchange, and the first after more than `maxAgeMs` without a successful
   * one, only sets the baseline and returns nothing; entries more than `maxAgeMs` older
   * than the newest one read are skipped too, so old frames are never charged.
   */
  async exchange(nodeId: string, counts: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    if (this.#closed) throw new Error('rate share is closed');
    if (typeof nodeId !== 'string' || nodeId.length === 0) throw new TypeError('nodeId must be a non-empty string');
    const fields: string[] = ['n', nodeId];
    for (const [userId, n] of counts) {
      if (typeof userId !== 'string' || userId.length === 0) throw new TypeError('user ids must be non-empty strings');
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`counts must be integers >= 0, got ${String(n)} for ${userId}`);
      if (n > 0) fields.push(userId, String(n));
    }
    const startedAt = performance.now();
    if (this.#cursor !== undefined && startedAt - this.#readAt > this.#maxAge) this.#cursor = undefined;
    const baseline = this.#cursor === undefined;
    const pipeline = this.#client.pipeline();
    const reporting = fields.length > 2;
    if (reporting) {
      const trim = this.#redisMs > this.#ttl ? ['MINID', '~', String(this.#redisMs - this.#ttl)] : [];
      pipeline.call('XADD', this.#key, ...trim, '*', ...fields);
      pipeline.pexpire(this.#key, this.#ttl);
    }
    if (baseline) pipeline.call('XREVRANGE', this.#key, '+', '-', 'COUNT', '1');
    else pipeline.call('XREAD', 'COUNT', String(READ_BATCH), 'STREAMS', this.#key, this.#cursor!);
    const replies = await redisCall(() => pipeline.exec());
    if (replies === null) throw toRedisError(new Error('pipeline aborted'));
    for (const [err] of replies) if (err !== null) throw toRedisError(err);
    if (reporting) this.#seen(String(replies[0]![1]));
    const last = replies[replies.length - 1]![1];
    const out = new Map<string, number>();
    if (baseline) {
      const newest = (last as Entry[])[0];
      this.#cursor = newest === undefined ? '0-0' : newest[0];
      if (newest !== undefined) this.#seen(newest[0]);
      this.#readAt = startedAt;
      return out;
    }
    const entries = readEntries(last);
    for (const [id] of entries) this.#seen(id);
    const oldest = this.#redisMs - this.#maxAge;
    for (const [id, values] of entries) {
      this.#cursor = id;
      if (values[1] === nodeId || idMs(id) < oldest) continue;
      for (let i = 2; i + 1 < values.length; i += 2) {
        const n = Number(values[i + 1]);
        if (Number.isSafeInteger(n) && n > 0) out.set(values[i]!, (out.get(values[i]!) ?? 0) + n);
      }
    }
    this.#readAt = startedAt;
    return out;
  }

  /** Marks it closed; the shared connection stays open (its owner closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #seen(id: string): void {
    const ms = idMs(id);
    if (ms > this.#redisMs) this.#redisMs = ms;
  }
}

/**
 * The entries of an XREAD reply on one key: null when nothing is new, else [[key, entries]]
 * (RESP2), which some client paths flatten to [key, entries] for a single key.
 */
function readEntries(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const stream = typeof reply[0] === 'string' ? reply : reply[0];
  return Array.isArray(stream) && Array.isArray(stream[1]) ? (stream[1] as Entry[]) : [];
}

/** The millisecond part of a stream entry id (`<ms>-<n>`). */
function idMs(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}
