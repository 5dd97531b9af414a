import { GatewayError } from '../../errors.js';
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
import { checkId, checkStatus, checkTime, unknownPresence } from '../presence-rules.js';
import { ConnectionSet } from './connection-set.js';

/** What a durable engine keeps of a user across restarts. */
export interface DurablePresence {
  /** See PresenceRecord.lastSeen. */
  lastSeen: number;
  /** True when the user's chosen status is `invisible`. */
  invisible: boolean;
}

/**
 * A persistence hook for engines that keep connections in memory but some facts on
 * disk (the LMDB engine). Both methods are synchronous on purpose: the store calls
 * them inside one synchronous section per operation, which is what makes every
 * operation atomic per user within the process.
 */
export interface PresenceDurability {
  /** The durable facts of a user, or undefined when none were ever saved. Must reflect every earlier save(). */
  load(userId: string): DurablePresence | undefined;
  /** Records the user's durable facts. May write in the background; load() must still see them at once. */
  save(userId: string, record: DurablePresence): void;
}

export interface MemoryPresenceOptions {
  /**
   * When given, the durable facts are loaded lazily from it and saved through it, and
   * offline users are evicted from memory (the hook remembers them). Without it, the
   * store remembers every user it has seen, for lastSeen and invisibility.
   */
  durability?: PresenceDurability;
}

/**
 * One user's presence. It is its own ConnectionSet (a user's open connections: connId →
 * nodeId, oldest first) rather than holding one: one object per user instead of two,
 * about 50 bytes less per connected user.
 */
class UserState extends ConnectionSet {
  chosen: ChosenStatus;
  /** Online or in grace. */
  online = false;
  /** When the grace period ends; defined only while online with no connection. */
  graceDeadline: number | undefined = undefined;
  lastSeen: number;

  constructor(chosen: ChosenStatus, lastSeen: number) {
    super();
    this.chosen = chosen;
    this.lastSeen = lastSeen;
  }

  /** The user's open connections (this object itself). */
  get conns(): ConnectionSet {
    return this;
  }
}

/**
 * The presence store of a single node: all state lives in this process, so it is
 * correct only when one gateway process serves every user (use the Redis engine for
 * a cluster). Every method runs synchronously before its promise is created, so each
 * is atomic per user.
 *
 * Group membership is tracked per connection and is independent of connect and
 * disconnect: disconnect does NOT leave the connection's groups. The service calls
 * leave() for each group of a closing connection; until it does, the user still
 * counts as a member.
 *
 * lastSeen is set to `now` on connect, on disconnect, and on a status change that
 * makes the user visible or invisible (so it reads as the moment the user appeared
 * to go offline), never while the user is and stays invisible.
 */
export class MemoryPresenceStore implements PresenceStore {
  readonly #users = new Map<string, UserState>();
  /** Lease deadline per node that called heartbeat (only this node, in practice). */
  readonly #leases = new Map<string, number>();
  /** group → userId → connIds of that user in the group. */
  readonly #groups = new Map<string, Map<string, Set<string>>>();
  readonly #durability: PresenceDurability | undefined;
  #closed = false;

  constructor(options: MemoryPresenceOptions = {}) {
    this.#durability = options.durability;
  }

  async connect(userId: string, connId: string, nodeId: string, now: number, limit?: ConnectLimit): Promise<ConnectResult> {
    this.#open();
    checkId('userId', userId);
    checkId('connId', connId);
    checkId('nodeId', nodeId);
    checkTime(now);
    const user = this.#user(userId);
    if (user.conns.has(connId)) {
      return { count: user.conns.size, evicted: [], cameOnline: false, status: user.chosen };
    }
    const evicted: EvictedConnection[] = [];
    if (limit !== undefined && user.conns.size >= limit.max) {
      if (limit.policy === 'reject') {
        throw new GatewayError('TOO_MANY_CONNECTIONS', `user already has ${limit.max} connections`);
      }
      while (user.conns.size > 0 && user.conns.size >= limit.max) {
        const [oldId, oldNode] = user.conns.oldest()!;
        user.conns.delete(oldId);
        evicted.push({ connId: oldId, nodeId: oldNode });
      }
    }
    const cameOnline = !user.online;
    if (cameOnline && user.chosen !== 'invisible') user.chosen = 'online';
    user.online = true;
    user.graceDeadline = undefined;
    user.conns.set(connId, nodeId);
    this.#touch(userId, user, now);
    return { count: user.conns.size, evicted, cameOnline, status: user.chosen };
  }

  /** Single node: no leases to enforce; remembered only so that liveNodes can name this node. */
  async heartbeat(nodeId: string, leaseMs: number, now: number): Promise<void> {
    this.#open();
    this.#leases.set(nodeId, now + leaseMs);
  }

  async liveNodes(now: number): Promise<NodeLease[]> {
    this.#open();
    return [...this.#leases]
      .filter(([, deadline]) => deadline > now)
      .map(([nodeId, leaseExpiresAt]) => ({ nodeId, leaseExpiresAt }))
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /** Single node: no other node can die unnoticed. */
  async reapDeadNodes(): Promise<string[]> {
    this.#open();
    return [];
  }

  async disconnect(userId: string, connId: string, now: number, graceMs: number): Promise<DisconnectResult> {
    this.#open();
    checkId('userId', userId);
    checkId('connId', connId);
    checkTime(now);
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw new RangeError(`graceMs must be a finite number >= 0, got ${String(graceMs)}`);
    }
    const user = this.#users.get(userId);
    if (user === undefined || !user.conns.delete(connId)) {
      return { count: user?.conns.size ?? 0, lastConnection: false };
    }
    const lastConnection = user.conns.size === 0;
    if (lastConnection) user.graceDeadline = now + graceMs;
    this.#touch(userId, user, now);
    return { count: user.conns.size, lastConnection };
  }

  async expire(userId: string, now: number): Promise<boolean> {
    this.#open();
    checkId('userId', userId);
    checkTime(now);
    const user = this.#users.get(userId);
    if (user === undefined || !user.online || user.conns.size > 0) return false;
    if (user.graceDeadline === undefined || user.graceDeadline > now) return false;
    user.online = false;
    user.graceDeadline = undefined;
    // The hook remembers lastSeen and invisibility, so an offline user needs no memory.
    if (this.#durability !== undefined) this.#users.delete(userId);
    return true;
  }

  async setStatus(userId: string, status: ChosenStatus, now: number): Promise<ChosenStatus | undefined> {
    this.#open();
    checkId('userId', userId);
    checkTime(now);
    checkStatus(status);
    const user = this.#users.get(userId);
    if (user === undefined || !user.online) return undefined;
    const previous = user.chosen;
    if (previous === status) return previous;
    user.chosen = status;
    const wasInvisible = previous === 'invisible';
    const isInvisible = status === 'invisible';
    if (wasInvisible !== isInvisible) {
      // Record the moment the user appeared to leave (or came back) so lastSeen matches what others saw.
      user.lastSeen = now;
      this.#durability?.save(userId, { lastSeen: now, invisible: isInvisible });
    }
    return previous;
  }

  async get(userIds: readonly string[]): Promise<Map<string, PresenceRecord>> {
    this.#open();
    if (!Array.isArray(userIds)) throw new TypeError('userIds must be an array of strings');
    const out = new Map<string, PresenceRecord>();
    for (const userId of userIds) {
      checkId('userId', userId);
      const user = this.#users.get(userId);
      if (user !== undefined) {
        out.set(userId, {
          status: user.online ? user.chosen : 'offline',
          connections: user.conns.size,
          online: user.online,
          lastSeen: user.lastSeen,
        });
        continue;
      }
      // Not in memory means offline; read the hook without caching, so lookups cost no memory.
      const durable = this.#durability?.load(userId);
      out.set(userId, { ...unknownPresence(), lastSeen: durable?.lastSeen ?? 0 });
    }
    return out;
  }

  async join(group: string, userId: string, connId: string): Promise<void> {
    this.#open();
    checkId('group', group);
    checkId('userId', userId);
    checkId('connId', connId);
    let users = this.#groups.get(group);
    if (users === undefined) {
      users = new Map();
      this.#groups.set(group, users);
    }
    let conns = users.get(userId);
    if (conns === undefined) {
      conns = new Set();
      users.set(userId, conns);
    }
    conns.add(connId);
  }

  async leave(group: string, userId: string, connId: string): Promise<void> {
    this.#open();
    checkId('group', group);
    checkId('userId', userId);
    checkId('connId', connId);
    const users = this.#groups.get(group);
    const conns = users?.get(userId);
    if (users === undefined || conns === undefined || !conns.delete(connId)) return;
    if (conns.size === 0) users.delete(userId);
    if (users.size === 0) this.#groups.delete(group);
  }

  /** Users in join order of their first connection still in the group. */
  async members(group: string, limit: number): Promise<{ users: string[]; count: number }> {
    this.#open();
    checkId('group', group);
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw new RangeError(`limit must be a number >= 0, got ${String(limit)}`);
    }
    const members = this.#groups.get(group);
    if (members === undefined) return { users: [], count: 0 };
    const users: string[] = [];
    for (const userId of members.keys()) {
      if (users.length >= limit) break;
      users.push(userId);
    }
    return { users, count: members.size };
  }

  /** Forgets everything. Later calls reject. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#users.clear();
    this.#groups.clear();
  }

  /** The state of a user, created (from the hook when there is one) on first use. */
  #user(userId: string): UserState {
    let user = this.#users.get(userId);
    if (user === undefined) {
      const durable = this.#durability?.load(userId);
      user = new UserState(durable?.invisible === true ? 'invisible' : 'online', durable?.lastSeen ?? 0);
      this.#users.set(userId, user);
    }
    return user;
  }

  /** A connect or disconnect was seen: record it unless the user hides. */
  #touch(userId: string, user: UserState, now: number): void {
    if (user.chosen === 'invisible') return;
    user.lastSeen = now;
    this.#durability?.save(userId, { lastSeen: now, invisible: false });
  }

  #open(): void {
    if (this.#closed) throw new Error('presence store is closed');
  }
}
