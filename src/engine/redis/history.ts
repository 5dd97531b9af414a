import { Cluster, type Redis } from 'ioredis';
import { Unpackr, type Options } from 'msgpackr';
import { encodeMsgpack } from '../../protocol/codec.js';
import type { Logger } from '../../log.js';
import {
  checkCount, checkEntry, checkGroup, checkLimits, historyClosed,
  type GroupHistory, type HistoryEntry, type HistoryPage, type NewHistoryEntry, type RetentionLimits,
} from '../history.js';
import { newEpoch } from '../memory/history.js';
import { redisCall, type RedisClient } from './connection.js';
import { APPEND, HISTORY_SCRIPTS, PAGE, READ, SWEEP_GROUP } from './history-scripts.js';
import { preloadScripts } from './script.js';

export interface RedisGroupHistoryOptions {
  /** A command connection from createRedis; shared with other engines, so close() leaves it open. */
  client: RedisClient;
  /** Prefix of every key (RedisConfig.keyPrefix). */
  keyPrefix: string;
  log?: Logger;
}

/** Keys looked at per SCAN step of a sweep. */
const SWEEP_BATCH = 200;
/** How much longer than its TTL a group's keys live after its last append (covers clock skew between nodes). */
const KEY_GRACE_MS = 60_000;

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true } as Options);

/**
 * Group history for cluster mode: every node appends to and reads the same per-group
 * history, so a member recovers what it missed whichever node it comes back to. Each
 * call is one Lua script on the group's keys (one slot, `{h:<group>}`): an append
 * assigns the offset, stores, trims by size and drops expired entries atomically,
 * cluster-wide. Key layout and expiry: history-scripts.ts.
 *
 * Epochs: the first append of a group (or the first after its keys expired or were
 * wiped) stores a new random epoch; so a Redis restart without persistence, a FLUSHDB
 * or an idle group's keys expiring all show up to clients as an epoch change.
 * Values are MessagePack [mid, from, content, timestamp, important].
 */
export class RedisGroupHistory implements GroupHistory {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #clock: () => number;
  readonly #unload: () => void;
  #closed = false;

  constructor(options: RedisGroupHistoryOptions, clock: () => number = Date.now) {
    if (typeof options.keyPrefix !== 'string') throw new RangeError('history: keyPrefix must be a string');
    this.#client = options.client;
    this.#prefix = options.keyPrefix;
    this.#clock = clock;
    this.#unload = preloadScripts(this.#client, HISTORY_SCRIPTS, options.log);
  }

  async append(group: string, entry: NewHistoryEntry, limits: RetentionLimits): Promise<{ offset: number; epoch: string }> {
    this.#open();
    checkGroup(group);
    checkEntry(entry);
    checkLimits(limits);
    const payload = Buffer.from(encodeMsgpack([entry.mid, entry.from, entry.content, entry.timestamp, entry.important === true]));
    const k = this.#keys(group);
    const [offset, epoch] = (await APPEND.run(this.#client, [k.e, k.x, k.m], [
      payload, String(entry.timestamp + limits.ttlMs), limits.size, String(this.#clock()), newEpoch(), String(limits.ttlMs + KEY_GRACE_MS),
    ])) as [number, string];
    return { offset: Number(offset), epoch: String(epoch) };
  }

  async read(group: string, after: number, limit: number): Promise<HistoryPage> {
    this.#open();
    checkGroup(group);
    checkCount('after', after);
    checkCount('limit', limit);
    const k = this.#keys(group);
    const reply = (await READ.runBuffer(this.#client, [k.e, k.x, k.m], [String(after), limit, String(this.#clock())])) as Buffer[];
    return toPage(reply, group, false);
  }

  async page(group: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    this.#open();
    checkGroup(group);
    if (before !== undefined) checkCount('before', before);
    checkCount('limit', limit);
    const k = this.#keys(group);
    const reply = (await PAGE.runBuffer(this.#client, [k.e, k.x, k.m], [before === undefined ? '' : String(before), limit, String(this.#clock())])) as Buffer[];
    return toPage(reply, group, true);
  }

  /** SCANs every master for expiry indexes, one short script per group; Redis is never blocked for long. */
  async sweep(now: number = this.#clock()): Promise<number> {
    this.#open();
    const servers: Redis[] = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
    const pattern = `${this.#prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}{h:*}:x`;
    let total = 0;
    for (const server of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await redisCall(() => server.scan(cursor, 'MATCH', pattern, 'COUNT', SWEEP_BATCH));
        cursor = next;
        const counts = await Promise.all(keys.map((x) => SWEEP_GROUP.run(this.#client, [`${x.slice(0, -2)}:e`, x], [String(now)])));
        for (const n of counts) total += Number(n);
      } while (cursor !== '0');
    }
    return total;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unload();
  }

  #keys(group: string): { e: string; x: string; m: string } {
    const base = `${this.#prefix}{h:${group}}`;
    return { e: `${base}:e`, x: `${base}:x`, m: `${base}:m` };
  }

  #open(): void {
    if (this.#closed) throw historyClosed();
  }
}

function toPage(reply: Buffer[], group: string, newestFirst: boolean): HistoryPage {
  const epoch = reply[0]!.toString('utf8');
  const offset = Number(reply[1]!.toString('latin1'));
  const entries = reply.slice(2).map((m) => decode(m, group));
  if (newestFirst) entries.reverse();
  return { epoch, offset, entries };
}

/** "<offset>:<msgpack>" → the entry; a member that does not decode is a corrupt store and throws, naming the group. */
function decode(member: Buffer, group: string): HistoryEntry {
  const colon = member.indexOf(0x3a);
  const offset = Number(member.toString('latin1', 0, colon));
  let fields: unknown;
  try {
    fields = unpackr.unpack(member.subarray(colon + 1));
  } catch (err) {
    throw new Error(`history: undecodable entry in group ${JSON.stringify(group)}: ${String(err)}`);
  }
  if (colon < 1 || !Number.isSafeInteger(offset) || !Array.isArray(fields) || fields.length !== 5) {
    throw new Error(`history: malformed entry in group ${JSON.stringify(group)}`);
  }
  const [mid, from, content, timestamp, important] = fields as [string, string, unknown, number, boolean];
  const entry: HistoryEntry = { offset, mid, from, content, timestamp };
  if (important) entry.important = true;
  return entry;
}
