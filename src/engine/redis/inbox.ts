import { Cluster, type Redis } from 'ioredis';
import { Unpackr, type Options } from 'msgpackr';
import { encodeMsgpack } from '../../protocol/codec.js';
import { GatewayError } from '../../errors.js';
import type { AppendOptions, AppendResult, Inbox, InboxEntry, InboxOptions, NewInboxEntry } from '../inbox.js';
import {
  checkAppendOptions,
  checkCount,
  checkEntry,
  checkEpoch,
  checkOptions,
  checkUserId,
  closedError,
  expiryCutoff,
  newEpoch,
} from '../inbox-rules.js';
import type { Logger } from '../../log.js';
import { brokerEnvelope } from './broker.js';
import { redisCall, type RedisClient } from './connection.js';
import { channelOf, dedupKey, expiryIndexPatterns, hashSlot, inboxKeyBase } from './inbox-keys.js';
import { ACK, APPEND, INBOX_SCRIPTS, READ, SWEEP_USER, TAKE_DROPPED } from './inbox-scripts.js';
import { preloadScripts } from './script.js';

export interface RedisInboxOptions extends InboxOptions {
  /** A command connection from createRedis; shared with other engines, so close() leaves it open. */
  client: RedisClient;
  /** Prefix of every key (RedisConfig.keyPrefix). */
  keyPrefix: string;
  /**
   * How long a user's seq counter (and unreported dropped count) is kept after the
   * user's last append. Default: 30 days, at least the entries' key lifetime. A user
   * idle for longer starts again at seq 1 (see the class comment).
   */
  counterRetentionMs?: number;
  /** For debug messages about script loading. */
  log?: Logger;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Keys looked at per SCAN step of a sweep; each step's users are swept before the next step. */
const SWEEP_BATCH = 200;
/** Longest page read() asks Redis for (the Lua side formats numbers; keep them plain integers). */
const MAX_LIMIT = 2 ** 31 - 1;

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true } as Options);

/**
 * The cluster inbox on Redis: every gateway node reads and writes the same per-user
 * inbox, so a user's messages are there whichever node they reconnect to. Each method
 * is one Lua script on the user's keys (all in the slot of the user's broker channel,
 * see inbox-keys.ts), so it is atomic per user cluster-wide: two nodes appending at
 * once get distinct, increasing seqs. Calls issued together on one instance take
 * effect in call order (one connection, commands sent in call order). Key layout:
 * inbox-keys.ts and inbox-scripts.ts.
 *
 * Live frames (publishesLive): with `options.live`, the append script itself PUBLISHes
 * (type node) or SPUBLISHes (type cluster) the frame, wrapped in the broker envelope,
 * on `keyPrefix + topic`, exactly as RedisBroker.publish would; so live frames of one
 * user leave in seq order cluster-wide, and a de-duplicated resend publishes nothing.
 * With a cluster the topic must hash to the user's slot (it is the user's own topic).
 *
 * Epoch: stored in the counter hash and replaced together with the counter: a new one
 * after Redis lost the data (restart without persistence, FLUSHALL) or after
 * counterRetentionMs of idleness.
 *
 * De-duplication records are keys of their own with a Redis expiry of
 * window + max(window, 1 min): the script decides by the gateway clock whether a
 * record still holds, and the slack keeps clock skew between gateways and Redis from
 * freeing a key early.
 *
 * Durability: an append resolves when Redis has applied it, which is as durable as the
 * Redis server's persistence settings (use AOF with `appendfsync everysec` or better
 * for offline messages; with persistence off, a Redis restart loses every inbox).
 *
 * Expiry: reads skip entries older than ttlMs (by the injected clock, like every
 * engine) and sweep() removes them, counting them as dropped. So that users who never
 * come back do not leak, the entry keys also carry a Redis expiry of
 * ttlMs + max(ttlMs, 1 h), renewed on each append: by then every entry has expired,
 * and a sweep (run far more often than that) has counted them. The seq counter lives
 * longer (counterRetentionMs) because a counter that vanished would let seqs start
 * over at 1, which a client holding an older cursor would skip; after that much
 * idleness the client's cursor is long stale anyway.
 *
 * Values are MessagePack ([mid, from, to, content, timestamp]); content is any JSON value.
 */
export class RedisInbox implements Inbox {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #opts: InboxOptions;
  readonly #clock: () => number;
  /** Redis expiry of entry keys and of the counter, '' when entries never expire. */
  readonly #keyTtl: string;
  readonly #metaTtl: string;
  readonly #unload: () => void;
  readonly #sharded: boolean;
  #closed = false;
  readonly publishesLive = true;

  constructor(options: RedisInboxOptions, clock: () => number = Date.now) {
    this.#opts = { ...checkOptions({ maxPerUser: options.maxPerUser, ttlMs: options.ttlMs }) };
    if (typeof options.keyPrefix !== 'string') throw new RangeError('inbox: keyPrefix must be a string');
    this.#client = options.client;
    this.#prefix = options.keyPrefix;
    this.#clock = clock;
    this.#sharded = this.#client instanceof Cluster;
    const ttl = this.#opts.ttlMs;
    if (Number.isFinite(ttl)) {
      const keyTtl = Math.ceil(ttl + Math.max(ttl, HOUR));
      const retention = options.counterRetentionMs ?? 30 * DAY;
      if (!Number.isSafeInteger(retention) || retention < 1) {
        throw new RangeError(`inbox: counterRetentionMs must be an integer >= 1, got ${String(retention)}`);
      }
      this.#keyTtl = String(keyTtl);
      this.#metaTtl = String(Math.max(keyTtl, retention));
    } else {
      this.#keyTtl = '';
      this.#metaTtl = '';
    }
    this.#unload = preloadScripts(this.#client, INBOX_SCRIPTS, options.log);
  }

  async append(userId: string, entry: NewInboxEntry, options?: AppendOptions): Promise<AppendResult> {
    this.#checkOpen();
    checkUserId(userId);
    checkEntry(entry);
    checkAppendOptions(options);
    const payload = Buffer.from(encodeMsgpack([entry.mid, entry.from, entry.to, entry.content, entry.timestamp]));
    const k = this.#keys(userId);
    const dedup = options?.dedup;
    const live = options?.live;
    let publish: [command: string, channel: string, envelope: Buffer, epochAt: number, seqAt: number] | ['', '', '', 0, 0] = ['', '', '', 0, 0];
    if (live) {
      const channel = channelOf(this.#prefix, live.topic);
      if (this.#sharded && hashSlot(channel) !== hashSlot(k.entries)) {
        throw new GatewayError('BAD_REQUEST', 'inbox: on a Redis Cluster the live topic must be the recipient\'s own topic');
      }
      let envelope: Buffer;
      try {
        envelope = brokerEnvelope(live.origin, live.payload);
      } catch (err) {
        throw new GatewayError('BAD_REQUEST', `inbox: ${err instanceof Error ? err.message : String(err)}`);
      }
      const header = envelope.length - live.payload.length;
      publish = [this.#sharded ? 'SPUBLISH' : 'PUBLISH', channel, envelope, header + live.epochAt, header + live.seqAt];
    }
    const now = this.#clock();
    const reply = (await APPEND.run(this.#client, [k.entries, k.times, k.meta, dedupKey(k.base, dedup?.key ?? '')], [
      payload, String(entry.timestamp), this.#opts.maxPerUser, this.#keyTtl, this.#metaTtl,
      newEpoch(), dedup ? String(dedup.ttlMs) : '', String(now), entry.mid,
      dedup ? String(dedup.ttlMs + Math.max(dedup.ttlMs, MINUTE)) : '',
      ...publish,
    ])) as [number, number, string, number, string?, string?];
    const [seq, dropped, epoch, receivers, mid, timestamp] = reply;
    if (receivers === -2) {
      return { seq: Number(seq), epoch, dropped: 0, duplicate: { mid: mid!, timestamp: Number(timestamp) } };
    }
    const result: AppendResult = { seq: Number(seq), epoch, dropped: Number(dropped) };
    if (receivers >= 0) result.receivers = Number(receivers);
    return result;
  }

  async read(userId: string, after: number, limit: number): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('after', after);
    checkCount('limit', limit);
    if (limit === 0) return [];
    const k = this.#keys(userId);
    const [epoch, ...members] = (await READ.runBuffer(this.#client, [k.entries, k.times, k.meta],
      [String(after), Math.min(limit, MAX_LIMIT), this.#cutoff(this.#clock())])) as Buffer[];
    const epochText = epoch!.toString('latin1');
    return members.map((m) => decode(m, epochText, userId));
  }

  /** Expired entries inside the acknowledged range are removed too, but counted as dropped, not returned. */
  async ack(userId: string, upTo: number, epoch?: string): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('upTo', upTo);
    checkEpoch(epoch);
    const k = this.#keys(userId);
    const [current, ...members] = (await ACK.runBuffer(this.#client, [k.entries, k.times, k.meta],
      [String(upTo), epoch === undefined ? '' : `=${epoch}`, this.#cutoff(this.#clock())])) as Buffer[];
    const epochText = current!.toString('latin1');
    return members.map((m) => decode(m, epochText, userId));
  }

  async takeDropped(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    const k = this.#keys(userId);
    return Number(await TAKE_DROPPED.run(this.#client, [k.entries, k.times, k.meta], [this.#cutoff(this.#clock())]));
  }

  async lastSeq(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    const meta = this.#keys(userId).meta;
    return Number((await redisCall(() => this.#client.hget(meta, 'seq'))) ?? 0);
  }

  /**
   * Walks every user's expiry index with SCAN (on every master of a cluster), a batch of
   * keys at a time, each user one short script: Redis is never blocked for long, and the
   * gateway keeps serving between batches. Entries appended during a sweep may or may
   * not be looked at; they are not due anyway.
   */
  async sweep(now: number = this.#clock()): Promise<number> {
    this.#checkOpen();
    if (typeof now !== 'number' || Number.isNaN(now)) throw new RangeError('inbox: sweep(now) needs a number');
    const cutoff = this.#cutoff(now);
    if (cutoff === '') return 0;
    const servers: Redis[] = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    let total = 0;
    for (const server of servers) for (const pattern of expiryIndexPatterns(this.#prefix)) {
      let cursor = '0';
      do {
        const [next, keys] = await redisCall(() => server.scan(cursor, 'MATCH', pattern, 'COUNT', SWEEP_BATCH));
        cursor = next;
        const counts = await Promise.all(keys.map((timesKey) => {
          // The three keys of a user differ only in their last letter.
          const base = timesKey.slice(0, -2);
          return SWEEP_USER.run(this.#client, [`${base}:e`, timesKey, `${base}:m`], [cutoff]);
        }));
        for (const n of counts) total += Number(n);
      } while (cursor !== '0');
    }
    return total;
  }

  /** Marks the inbox closed; the shared connection stays open (its owner closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unload();
  }

  #keys(userId: string): { base: string; entries: string; times: string; meta: string } {
    const base = inboxKeyBase(this.#prefix, userId);
    return { base, entries: `${base}:e`, times: `${base}:t`, meta: `${base}:m` };
  }

  /** Timestamps below this have expired at `now`; '' when entries never expire. */
  #cutoff(now: number): string {
    const cutoff = expiryCutoff(now, this.#opts.ttlMs);
    return Number.isFinite(cutoff) ? String(cutoff) : '';
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }
}

/** "<seq>:<msgpack>" → the entry. A member that does not decode is a corrupt store: it throws, naming the user. */
function decode(member: Buffer, epoch: string, userId: string): InboxEntry {
  const colon = member.indexOf(0x3a);
  const seq = Number(member.toString('latin1', 0, colon));
  let fields: unknown;
  try {
    fields = unpackr.unpack(member.subarray(colon + 1));
  } catch (err) {
    throw new Error(`inbox: undecodable entry for user ${JSON.stringify(userId)}: ${String(err)}`);
  }
  if (colon < 1 || !Number.isSafeInteger(seq) || !Array.isArray(fields) || fields.length !== 5) {
    throw new Error(`inbox: malformed entry for user ${JSON.stringify(userId)}`);
  }
  const [mid, from, to, content, timestamp] = fields as [string, string, string, unknown, number];
  return { seq, epoch, mid, from, to, content, timestamp };
}
