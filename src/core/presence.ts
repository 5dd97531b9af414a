import type { Logger } from 'pino';
import { CLOSE, GatewayError } from '../errors.js';
import type { ChosenStatus, ConnectLimit, ConnectResult, PresenceRecord, PresenceStore } from '../engine/presence.js';
import type { UserStatus } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';
import { topics } from './topics.js';

export interface PresenceSettings {
  /** Per-user connection limit, enforced by the store (cluster-wide with a shared store). */
  limit: ConnectLimit;
  /** Node lease (ms): how long a dead node's connections may linger in a shared store. */
  nodeLease: number;
  /** How long a user with no connection stays online before `offline` is announced (ms). */
  offlineGrace: number;
  /** Users one connection may watch at once. */
  maxWatch: number;
  /** Whether members of a group receive join/leave events of that group. */
  groupEvents: boolean;
  /** Groups whose presence is hidden (rule `Presence: none`): no join/leave events even with groupEvents. */
  hidden?: (group: string) => boolean;
}

/** Online members returned by a group presence query at most (the count is always exact). */
export const GROUP_QUERY_LIMIT = 1000;

/** What others see: invisible users look offline. */
export function visibleStatus(status: ChosenStatus | 'offline'): UserStatus {
  return status === 'invisible' ? 'offline' : status;
}

/**
 * Presence as the clients see it: announces status transitions to watchers
 * (topic `p:<user>`), runs the offline grace timers and answers queries. The store
 * decides transitions atomically, so each is announced once per user.
 */
export class PresenceService {
  readonly #store: PresenceStore;
  readonly #hub: Hub;
  readonly #nodeId: string;
  readonly #settings: PresenceSettings;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inflight = new Set<Promise<unknown>>();
  #leaseTimer: NodeJS.Timeout | undefined;

  constructor(deps: { store: PresenceStore; hub: Hub; nodeId: string; settings: PresenceSettings; log: Logger; clock?: () => number }) {
    this.#store = deps.store;
    this.#hub = deps.hub;
    this.#nodeId = deps.nodeId;
    this.#settings = deps.settings;
    this.#log = deps.log;
    this.#clock = deps.clock ?? Date.now;
  }

  /**
   * Registers a connection at the upgrade, before its socket exists, applying the
   * per-user limit atomically in the store (so concurrent upgrades on any node cannot
   * overshoot). Connections evicted to make room are closed with 4008 wherever they
   * live. Throws TOO_MANY_CONNECTIONS (policy reject). When the store is unreachable
   * the connection is admitted on local knowledge only and registered later by
   * `resync`; the result is then undefined.
   */
  async register(connId: string, userId: string): Promise<ConnectResult | undefined> {
    let result: ConnectResult;
    try {
      result = await this.#store.connect(userId, connId, this.#nodeId, this.#clock(), this.#settings.limit);
    } catch (err) {
      if (err instanceof GatewayError && err.code !== 'UNAVAILABLE') throw err;
      this.#log.warn({ err, userId }, 'presence store unavailable: admitting on local limits, will resync');
      return undefined;
    }
    for (const old of result.evicted) {
      this.#hub.kick(old.connId, old.nodeId, CLOSE.EVICTED, 'replaced by a newer connection').catch((err: unknown) => {
        this.#log.error({ err, connId: old.connId, nodeId: old.nodeId }, 'could not evict connection on its node');
      });
    }
    return result;
  }

  /** Undoes a registration whose upgrade never opened; announces nothing. */
  async unregister(connId: string, userId: string): Promise<void> {
    await this.#store.disconnect(userId, connId, this.#clock(), 0);
    await this.#store.expire(userId, this.#clock());
  }

  /** Called on open with the registration's result: announces `online` when the user came online. */
  connected(conn: Connection, registration: ConnectResult | undefined): Promise<void> {
    return this.#track(this.#connected(conn, registration));
  }

  /** Leaves the connection's groups, then starts the grace timer when it was the user's last connection. */
  disconnected(conn: Connection): Promise<void> {
    return this.#track(this.#disconnected(conn));
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inflight.add(work);
    const done = (): void => {
      this.#inflight.delete(work);
    };
    work.then(done, done);
    return work;
  }

  /** True while this node runs the user's offline grace timer (the user closed its last connection here, recently). */
  inGrace(userId: string): boolean {
    return this.#timers.has(userId);
  }

  /** Resolves when every connect/disconnect/expiry started so far has settled (shutdown; tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  async #connected(conn: Connection, registration: ConnectResult | undefined): Promise<void> {
    if (registration !== undefined && registration.cameOnline && registration.status !== 'invisible') {
      await this.#announce(conn.principal.userId, registration.status);
    }
  }

  /**
   * Re-registers every local connection and group membership in the store. Run when a
   * shared store comes back (it may have restarted empty); idempotent, so running it
   * on a store that kept everything changes nothing.
   */
  async resync(connections: Iterable<Connection>): Promise<number> {
    let n = 0;
    for (const conn of connections) {
      if (conn.socket === undefined) continue;
      const userId = conn.principal.userId;
      const result = await this.#store.connect(userId, conn.id, this.#nodeId, this.#clock());
      if (result.cameOnline && result.status !== 'invisible') await this.#announce(userId, result.status);
      for (const group of conn.groups) await this.#store.join(group, userId, conn.id);
      n += 1;
    }
    return n;
  }

  /**
   * Keeps this node's lease alive and reaps nodes that died without cleaning up, so
   * their users go offline (announced once) within about one lease. Runs at a third
   * of the lease so a live node never lapses on one slow tick.
   */
  startLeases(): void {
    if (this.#leaseTimer !== undefined) return;
    const tick = async (): Promise<void> => {
      const now = this.#clock();
      await this.#store.heartbeat(this.#nodeId, this.#settings.nodeLease, now);
      for (const userId of await this.#store.reapDeadNodes(now)) await this.#expire(userId);
    };
    void tick().catch((err: unknown) => this.#log.warn({ err }, 'presence lease tick failed'));
    this.#leaseTimer = setInterval(() => {
      tick().catch((err: unknown) => this.#log.warn({ err }, 'presence lease tick failed'));
    }, Math.max(100, Math.floor(this.#settings.nodeLease / 3)));
    this.#leaseTimer.unref();
  }

  async #disconnected(conn: Connection): Promise<void> {
    const userId = conn.principal.userId;
    for (const group of conn.groups) await this.left(conn, group);
    const now = this.#clock();
    const result = await this.#store.disconnect(userId, conn.id, now, this.#settings.offlineGrace);
    if (result.lastConnection) this.#armGrace(userId, now + this.#settings.offlineGrace);
  }

  #armGrace(userId: string, deadline: number): void {
    clearTimeout(this.#timers.get(userId));
    const timer = setTimeout(() => {
      this.#timers.delete(userId);
      // Timers run on a monotonic clock and may fire a millisecond before the wall
      // clock reaches the deadline; the store would then say "not due" and the
      // offline would never be announced. The timer firing is what makes it due.
      const at = Math.max(this.#clock(), deadline);
      this.#track(this.#expire(userId, at)).catch((err: unknown) => this.#log.error({ err, userId }, 'presence expiry failed'));
    }, this.#settings.offlineGrace);
    timer.unref();
    this.#timers.set(userId, timer);
  }

  async #expire(userId: string, now: number = this.#clock()): Promise<void> {
    if (!(await this.#store.expire(userId, now))) return;
    // The store keeps the chosen status; an invisible user was never announced online.
    const record = (await this.#store.get([userId])).get(userId);
    if (record?.status === 'invisible') return;
    await this.#announce(userId, 'offline');
  }

  /** Sets the user's chosen status (shared by all its connections) and announces what watchers should see. */
  async setStatus(conn: Connection, status: ChosenStatus): Promise<void> {
    const userId = conn.principal.userId;
    const previous = await this.#store.setStatus(userId, status, this.#clock());
    if (previous === undefined) throw new GatewayError('INTERNAL', 'presence record missing for a connected user');
    const before = visibleStatus(previous);
    const after = visibleStatus(status);
    if (before !== after) await this.#announce(userId, after);
  }

  /**
   * Adds users to the connection's watch list. Resolves once every new presence topic
   * is subscribed on the broker (so no status change from then on is missed); on
   * failure the users added by this call are removed again and it rejects.
   */
  async watch(conn: Connection, users: readonly string[]): Promise<void> {
    const fresh = [...new Set(users)].filter((u) => !conn.watching.has(u));
    if (conn.watching.size + fresh.length > this.#settings.maxWatch) {
      throw new GatewayError('BAD_REQUEST', `watch list would exceed ${this.#settings.maxWatch} users`);
    }
    const confirmations: Promise<void>[] = [];
    for (const user of fresh) {
      conn.watching.add(user);
      confirmations.push(this.#hub.subscribe(conn, topics.presence(user)));
    }
    try {
      await Promise.all(confirmations);
    } catch (err) {
      this.unwatch(conn, fresh);
      throw err;
    }
  }

  unwatch(conn: Connection, users: readonly string[]): void {
    for (const user of users) {
      if (conn.watching.delete(user)) this.#hub.unsubscribe(conn, topics.presence(user));
    }
  }

  /** Presence of users as others see it. */
  async query(users: readonly string[]): Promise<Record<string, { status: UserStatus; lastSeen: number; connections: number }>> {
    const records = await this.#store.get(users);
    const now = this.#clock();
    const out: Record<string, { status: UserStatus; lastSeen: number; connections: number }> = Object.create(null);
    for (const user of users) out[user] = view(records.get(user), now);
    return out;
  }

  /** Online (visible) members of a group; only members may ask. */
  async groupQuery(conn: Connection, group: string): Promise<{ group: string; online: string[]; count: number }> {
    if (!conn.groups.has(group)) throw new GatewayError('FORBIDDEN', `not a member of ${group}`);
    return this.groupOnline(group);
  }

  /** Online (visible) members of a group, for callers that need no membership (the HTTP API). */
  async groupOnline(group: string): Promise<{ group: string; online: string[]; count: number }> {
    const { users } = await this.#store.members(group, GROUP_QUERY_LIMIT);
    const records = await this.#store.get(users);
    const online = users.filter((u) => {
      const r = records.get(u);
      return r !== undefined && r.online && r.status !== 'invisible';
    });
    return { group, online, count: online.length };
  }

  /**
   * Records a confirmed join in the store, then tells the members (GroupEvents). A
   * connection that closed meanwhile is taken out again, whichever of this and the
   * close-time leave ran first. The member event is best effort: its failure is logged
   * and does not undo the join.
   */
  async joined(conn: Connection, group: string): Promise<void> {
    const userId = conn.principal.userId;
    await this.#store.join(group, userId, conn.id);
    if (conn.phase === 'closed') {
      await this.#store.leave(group, userId, conn.id);
      return;
    }
    if (this.#settings.groupEvents && this.#settings.hidden?.(group) !== true) {
      await this.#member(group, userId, 'join').catch((err: unknown) => this.#log.warn({ err, group }, 'member join event not published'));
    }
  }

  async left(conn: Connection, group: string): Promise<void> {
    await this.#store.leave(group, conn.principal.userId, conn.id);
    if (this.#settings.groupEvents && this.#settings.hidden?.(group) !== true) await this.#member(group, conn.principal.userId, 'leave');
  }

  /** True when the user has a connection and is not invisible: what a sender may be told. */
  async isVisible(userId: string): Promise<boolean> {
    const record = (await this.#store.get([userId])).get(userId);
    return record !== undefined && record.connections > 0 && record.status !== 'invisible';
  }

  async #member(group: string, userId: string, event: 'join' | 'leave'): Promise<void> {
    await this.#hub.publish(topics.group(group), { type: 'member', data: { group, userId, event, timestamp: this.#clock() } });
  }

  async #announce(userId: string, status: UserStatus): Promise<void> {
    await this.#hub.publish(topics.presence(userId), { type: 'status', data: { userId, status, timestamp: this.#clock() } });
  }

  /** Stops grace timers (shutdown); the store keeps lastSeen. */
  stop(): void {
    clearInterval(this.#leaseTimer);
    this.#leaseTimer = undefined;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}

function view(record: PresenceRecord | undefined, now: number): { status: UserStatus; lastSeen: number; connections: number } {
  if (record === undefined || !record.online) return { status: 'offline', lastSeen: record?.lastSeen ?? 0, connections: 0 };
  if (record.status === 'invisible') return { status: 'offline', lastSeen: record.lastSeen, connections: 0 };
  // A visible user in its grace period is still online; one with connections is seen now.
  return { status: visibleStatus(record.status), lastSeen: record.connections > 0 ? now : record.lastSeen, connections: record.connections };
}
