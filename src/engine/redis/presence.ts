import { GatewayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { checkId, checkStatus, checkTime, isChosenStatus, unknownPresence } from '../presence-rules.js';
import type {
  ChosenStatus,
  ConnectLimit,
  ConnectResult,
  DisconnectResult,
  NodeLease,
  EvictedConnection,
  PresenceRecord,
  PresenceStore,
} from '../presence.js';
import { redisCall, type RedisClient } from './connection.js';
import { CONNECT, DISCONNECT, EXPIRE, GET, GROUP_JOIN, GROUP_LEAVE, GROUP_MEMBERS, PRESENCE_SCRIPTS, REAP, SET_STATUS } from './presence-scripts.js';
import { preloadScripts } from './script.js';

export interface RedisPresenceOptions {
  /** A command connection from createRedis; shared with other engines, so close() leaves it open. */
  client: RedisClient;
  /** Prefix of every key (RedisConfig.keyPrefix). */
  keyPrefix: string;
  /** How long an offline user's lastSeen and invisibility are kept. Default 30 days. */
  offlineStateTtlMs?: number;
  /**
   * Called when a heartbeat finds this node's lease gone although an earlier heartbeat
   * of this store set it: the lease lapsed (or Redis lost its data), other nodes may
   * have reaped this node's connections, and the node should register them again.
   */
  onLeaseLost?: (nodeId: string) => void;
  /** For debug messages about script loading. */
  log?: Logger;
}

const DAY = 86_400_000;
/** Node-index entries handled per SSCAN step while reaping. */
const REAP_BATCH = 500;

/**
 * The shared presence store of a cluster of gateways, on Redis. Each method is one
 * Lua script on the user's keys (all in one slot thanks to the `{u:<id>}` hash tag),
 * so it is atomic per user cluster-wide; see presence-scripts.ts for the layout.
 *
 * Beside the per-user keys:
 * - a node index per node (`{n:<node>}:c`, a set of user/conn pairs) lists the
 *   connections a node registered, so a reaper can find them when the node dies; connect
 *   adds to it BEFORE registering (a crash in between leaves a harmless stale entry,
 *   never an unreapable connection), disconnect removes it after;
 * - a lease per node (`{n:<node>}:lease`, value = deadline, PX TTL) and a set of known
 *   nodes (`nodes`): a node is dead when its lease key is gone or its deadline < now.
 *
 * Group membership (join/leave) is per connection and independent of disconnect, as in
 * the memory store; each join is recorded twice (group keys, and the user's own set) in
 * two steps, because the keys live in different slots: join writes the user's set first
 * and leave removes it last, so the user's set is always a superset and a reaper can
 * clean groups of dead connections.
 *
 * lastSeen follows the memory store (connect, disconnect, becoming visible/invisible;
 * never while invisible). Offline users keep lastSeen/invisibility for
 * offlineStateTtlMs. Everything survives a gateway restart as long as Redis keeps
 * its data; connections registered by a node that died are removed by reapDeadNodes.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #client: RedisClient;
  readonly #prefix: string;
  /** The lease length last used by heartbeat: how overdue a grace period must be before reapers take it over. */
  #leaseMs = 15_000;
  readonly #stateTtl: number;
  readonly #onLeaseLost: ((nodeId: string) => void) | undefined;
  /** Nodes this store has set a lease for (so a missing lease is news). */
  readonly #leased = new Set<string>();
  readonly #unload: () => void;
  #closed = false;

  constructor(options: RedisPresenceOptions) {
    if (typeof options.keyPrefix !== 'string') throw new TypeError('keyPrefix must be a string');
    const ttl = options.offlineStateTtlMs ?? 30 * DAY;
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`offlineStateTtlMs must be an integer >= 1, got ${String(ttl)}`);
    this.#client = options.client;
    this.#prefix = options.keyPrefix;
    this.#stateTtl = ttl;
    this.#onLeaseLost = options.onLeaseLost;
    this.#unload = preloadScripts(this.#client, PRESENCE_SCRIPTS, options.log);
  }

  async connect(userId: string, connId: string, nodeId: string, now: number, limit?: ConnectLimit): Promise<ConnectResult> {
    this.#open();
    checkId('userId', userId);
    checkId('connId', connId);
    checkId('nodeId', nodeId);
    checkTime(now);
    let max = 0;
    let policy = '';
    if (limit !== undefined) {
      if (!Number.isInteger(limit.max) || limit.max < 1) throw new RangeError(`limit.max must be an integer >= 1, got ${String(limit.max)}`);
      if (limit.policy !== 'reject' && limit.policy !== 'evict-oldest') throw new TypeError(`limit.policy must be reject or evict-oldest, got ${String(limit.policy)}`);
      max = limit.max;
      policy = limit.policy;
    }
    const pair = pairOf(userId, connId);
    const index = this.#nodeConns(nodeId);
    const u = this.#user(userId);
    const added = await redisCall(() => this.#client.sadd(index, pair));
    const reply = (await CONNECT.run(this.#client, [u.conns, u.state], [connId, nodeId, String(now), max, policy])) as (string | number)[];
    if (reply[0] === 'limit') {
      // Only undo an index entry this call created (a retry of a live connId keeps its own).
      if (added === 1) await redisCall(() => this.#client.srem(index, pair));
      throw new GatewayError('TOO_MANY_CONNECTIONS', `user already has ${max} connections`);
    }
    const evicted: EvictedConnection[] = [];
    for (let i = 4; i + 1 < reply.length; i += 2) evicted.push({ connId: String(reply[i]), nodeId: String(reply[i + 1]) });
    // Stale index entries would be harmless (the reaper checks ownership), but keep the index tidy.
    await Promise.all(evicted.map((e) => redisCall(() => this.#client.srem(this.#nodeConns(e.nodeId), pairOf(userId, e.connId)))));
    return { count: Number(reply[1]), evicted, cameOnline: Number(reply[2]) === 1, status: reply[3] as ChosenStatus };
  }

  async disconnect(userId: string, connId: string, now: number, graceMs: number): Promise<DisconnectResult> {
    this.#open();
    checkId('userId', userId);
    checkId('connId', connId);
    checkTime(now);
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw new RangeError(`graceMs must be a finite number >= 0, got ${String(graceMs)}`);
    }
    const u = this.#user(userId);
    // The grace timer lives on this node; if the node dies before it fires, this
    // deadline lets any other node's reaper finish the transition. Recorded first, so a
    // crash between the two commands leaves a harmless extra entry, never a stuck user.
    await redisCall(() => this.#client.zadd(this.#gracesKey(), now + graceMs, userId));
    const reply = (await DISCONNECT.run(this.#client, [u.conns, u.state], [connId, String(now), String(now + graceMs)])) as [number, number, string];
    const owner = reply[2];
    if (owner !== '') await redisCall(() => this.#client.srem(this.#nodeConns(owner), pairOf(userId, connId)));
    return { count: Number(reply[0]), lastConnection: Number(reply[1]) === 1 };
  }

  async expire(userId: string, now: number): Promise<boolean> {
    this.#open();
    checkId('userId', userId);
    checkTime(now);
    const u = this.#user(userId);
    return Number(await EXPIRE.run(this.#client, [u.conns, u.state], [String(now), this.#stateTtl])) === 1;
  }

  async setStatus(userId: string, status: ChosenStatus, now: number): Promise<ChosenStatus | undefined> {
    this.#open();
    checkId('userId', userId);
    checkTime(now);
    checkStatus(status);
    const previous = await SET_STATUS.run(this.#client, [this.#user(userId).state], [status, String(now)]);
    return previous === null ? undefined : (previous as ChosenStatus);
  }

  async get(userIds: readonly string[]): Promise<Map<string, PresenceRecord>> {
    this.#open();
    if (!Array.isArray(userIds)) throw new TypeError('userIds must be an array of strings');
    for (const userId of userIds) checkId('userId', userId);
    // Users live in different slots: one script each, all in flight at once.
    const replies = await Promise.all(userIds.map((userId) => {
      const u = this.#user(userId);
      return GET.run(this.#client, [u.conns, u.state], []) as Promise<[string, string, string, number]>;
    }));
    const out = new Map<string, PresenceRecord>();
    userIds.forEach((userId, i) => {
      const [on, chosen, lastSeen, connections] = replies[i]!;
      const online = on === '1';
      out.set(userId, {
        ...unknownPresence(),
        status: online && isChosenStatus(chosen) ? chosen : online ? 'online' : 'offline',
        connections: Number(connections),
        online,
        lastSeen: Number(lastSeen) || 0,
      });
    });
    return out;
  }

  async join(group: string, userId: string, connId: string): Promise<void> {
    this.#open();
    checkId('group', group);
    checkId('userId', userId);
    checkId('connId', connId);
    await redisCall(() => this.#client.sadd(this.#user(userId).groups, pairOf(connId, group)));
    const g = this.#group(group);
    await GROUP_JOIN.run(this.#client, [g.conns, g.users], [pairOf(userId, connId), userId]);
  }

  async leave(group: string, userId: string, connId: string): Promise<void> {
    this.#open();
    checkId('group', group);
    checkId('userId', userId);
    checkId('connId', connId);
    const g = this.#group(group);
    await GROUP_LEAVE.run(this.#client, [g.conns, g.users], [pairOf(userId, connId), userId]);
    await redisCall(() => this.#client.srem(this.#user(userId).groups, pairOf(connId, group)));
  }

  /** Order: ascending by the user's number of connections in the group, then by user id. */
  async members(group: string, limit: number): Promise<{ users: string[]; count: number }> {
    this.#open();
    checkId('group', group);
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw new RangeError(`limit must be a number >= 0, got ${String(limit)}`);
    }
    const capped = Math.min(Math.ceil(limit), 2 ** 31 - 1);
    const reply = (await GROUP_MEMBERS.run(this.#client, [this.#group(group).users], [capped])) as (number | string)[];
    return { count: Number(reply[0]), users: reply.slice(1).map(String) };
  }

  async heartbeat(nodeId: string, leaseMs: number, now: number): Promise<void> {
    this.#open();
    checkId('nodeId', nodeId);
    checkTime(now);
    if (!Number.isInteger(leaseMs) || leaseMs < 1) throw new RangeError(`leaseMs must be an integer >= 1, got ${String(leaseMs)}`);
    const lease = this.#lease(nodeId);
    const [previous] = await Promise.all([
      // SET .. GET (Redis >= 6.2) tells whether the lease was still there.
      redisCall(() => this.#client.set(lease, String(now + leaseMs), 'PX', leaseMs, 'GET')),
      redisCall(() => this.#client.sadd(this.#nodesKey(), nodeId)),
    ]);
    const hadLease = this.#leased.has(nodeId);
    this.#leased.add(nodeId);
    this.#leaseMs = leaseMs;
    if (previous === null && hadLease) this.#onLeaseLost?.(nodeId);
  }

  async reapDeadNodes(now: number): Promise<string[]> {
    this.#open();
    checkTime(now);
    const nodes = await redisCall(() => this.#client.smembers(this.#nodesKey()));
    const offline = new Set<string>();
    for (const nodeId of nodes) {
      if (!(await this.#isDead(nodeId, now))) continue;
      for (const userId of await this.#reapNode(nodeId, now)) offline.add(userId);
    }
    // Grace periods overdue by more than a lease: their node died before its timer
    // fired (or the user reconnected since, which `expire` then tells). The entries are
    // claimed with ZREM so that usually one reaper handles each; `expire` stays the
    // single decider either way.
    const overdue = await redisCall(() => this.#client.zrangebyscore(this.#gracesKey(), '-inf', now - this.#leaseMs, 'LIMIT', 0, 500));
    for (const userId of overdue) {
      if ((await redisCall(() => this.#client.zrem(this.#gracesKey(), userId))) === 1) offline.add(userId);
    }
    return [...offline];
  }

  async liveNodes(now: number): Promise<NodeLease[]> {
    this.#open();
    checkTime(now);
    const nodes = (await redisCall(() => this.#client.smembers(this.#nodesKey()))).sort();
    // One GET per lease: each lease has its own hash tag, so no multi-key command spans them.
    const deadlines = await Promise.all(nodes.map((nodeId) => redisCall(() => this.#client.get(this.#lease(nodeId)))));
    const live: NodeLease[] = [];
    nodes.forEach((nodeId, i) => {
      const deadline = Number(deadlines[i] ?? 0);
      if (deadline > now) live.push({ nodeId, leaseExpiresAt: deadline });
    });
    return live;
  }

  /** Marks the store closed; the shared connection stays open (its owner closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unload();
  }

  async #isDead(nodeId: string, now: number): Promise<boolean> {
    const deadline = await redisCall(() => this.#client.get(this.#lease(nodeId)));
    return deadline === null || Number(deadline) < now;
  }

  /**
   * Removes a dead node's connections, batch by batch. Stops early if the node comes
   * back (its heartbeat renewed the lease), so a node that was only slow does not
   * lose the connections it re-registers. A racing reaper does the same work; the
   * per-user script makes the second one find nothing.
   */
  async #reapNode(nodeId: string, now: number): Promise<string[]> {
    const index = this.#nodeConns(nodeId);
    const offline: string[] = [];
    let cursor = '0';
    do {
      const [next, members] = await redisCall(() => this.#client.sscan(index, cursor, 'COUNT', REAP_BATCH));
      cursor = next;
      if (members.length === 0) continue;
      if (!(await this.#isDead(nodeId, now))) return offline;
      const byUser = new Map<string, string[]>();
      for (const member of members) {
        const parsed = parsePair(member);
        if (parsed === undefined) continue;
        const list = byUser.get(parsed[0]) ?? [];
        list.push(parsed[1]);
        byUser.set(parsed[0], list);
      }
      await Promise.all([...byUser].map(async ([userId, connIds]) => {
        const u = this.#user(userId);
        const reply = (await REAP.run(this.#client, [u.conns, u.state, u.groups], [nodeId, String(now), ...connIds])) as (string | number)[];
        if (Number(reply[0]) === 1) offline.push(userId);
        const leaves: Promise<unknown>[] = [];
        for (let i = 1; i + 1 < reply.length; i += 2) {
          const g = this.#group(String(reply[i]));
          leaves.push(GROUP_LEAVE.run(this.#client, [g.conns, g.users], [pairOf(userId, String(reply[i + 1])), userId]));
        }
        await Promise.all(leaves);
      }));
      await redisCall(() => this.#client.srem(index, ...members));
    } while (cursor !== '0');
    // Forget the node once nothing of it is left and it is still dead; a live node re-adds itself on its next heartbeat.
    if ((await redisCall(() => this.#client.scard(index))) === 0 && (await this.#isDead(nodeId, now))) {
      await redisCall(() => this.#client.srem(this.#nodesKey(), nodeId));
    }
    return offline;
  }

  #user(userId: string): { conns: string; state: string; groups: string } {
    const base = `${this.#prefix}{u:${userId}}`;
    return { conns: `${base}:c`, state: `${base}:s`, groups: `${base}:g` };
  }

  #group(group: string): { conns: string; users: string } {
    const base = `${this.#prefix}{g:${group}}`;
    return { conns: `${base}:c`, users: `${base}:u` };
  }

  #nodeConns(nodeId: string): string {
    return `${this.#prefix}{n:${nodeId}}:c`;
  }

  #lease(nodeId: string): string {
    return `${this.#prefix}{n:${nodeId}}:lease`;
  }

  #nodesKey(): string {
    return `${this.#prefix}nodes`;
  }

  /** Zset userId → grace deadline of users whose last connection closed (cleaned up by the reaper). */
  #gracesKey(): string {
    return `${this.#prefix}graces`;
  }

  #open(): void {
    if (this.#closed) throw new Error('presence store is closed');
  }
}

/** "<byteLength(a)>:<a><b>": two strings in one member, unambiguous whatever they contain (the Lua side uses byte lengths too). */
function pairOf(a: string, b: string): string {
  return `${Buffer.byteLength(a, 'utf8')}:${a}${b}`;
}

function parsePair(member: string): [string, string] | undefined {
  const colon = member.indexOf(':');
  const length = Number(member.slice(0, colon));
  if (colon < 1 || !Number.isInteger(length)) return undefined;
  const rest = Buffer.from(member.slice(colon + 1), 'utf8');
  if (rest.length < length) return undefined;
  return [rest.toString('utf8', 0, length), rest.toString('utf8', length)];
}
