import type { UserStatus } from '../protocol/frames.js';

/**
 * Who is online, across every node that shares the store. The store holds the
 * state; the presence service (src/core/presence.ts) holds the grace timers and
 * announces transitions. Every method is atomic per user: with several nodes, the
 * store decides which single caller observes a transition, so `online` and
 * `offline` are announced once per user, not once per node.
 *
 * User lifecycle: offline → (first connect) online → (last disconnect) grace →
 * either (a connect before the deadline: still online, nothing announced) or
 * (expire after the deadline: offline, announced once).
 */

/** The status a user chose; `offline` is never chosen, it is derived from having no connection. */
export type ChosenStatus = Exclude<UserStatus, 'offline'>;

export interface PresenceRecord {
  /** The status others should see (invisible users appear `offline` with 0 connections). Computed by the service, not the store. */
  status: ChosenStatus | 'offline';
  /** Open connections of the user across the cluster (0 while in the grace period). */
  connections: number;
  /** True while the user is online or in its grace period. */
  online: boolean;
  /**
   * Milliseconds since the epoch when the user was last seen: the last connect or
   * disconnect. Durable engines keep it across restarts. 0 if never seen.
   * Not updated while the user is invisible, so it does not betray the user; switching
   * to or from invisible sets it, so going invisible looks like going offline then.
   */
  lastSeen: number;
}

/** The per-user connection limit, applied atomically by `connect` (cluster-wide for shared stores). */
export interface ConnectLimit {
  max: number;
  /** `reject`: throw TOO_MANY_CONNECTIONS at the limit. `evict-oldest`: remove the oldest connections to make room. */
  policy: 'reject' | 'evict-oldest';
}

/** A connection removed from the store by evict-oldest; the node that owns it must close it (code 4008). */
export interface EvictedConnection {
  connId: string;
  nodeId: string;
}

export interface ConnectResult {
  /** The user's connection count after this one was added. */
  count: number;
  /** Connections removed to make room (evict-oldest), oldest first; [] otherwise. */
  evicted: EvictedConnection[];
  /** True when the user was offline (not in grace) before: the caller announces `online`. */
  cameOnline: boolean;
  /** The user's chosen status after connecting (invisible persists; others reset to online when the user comes online). */
  status: ChosenStatus;
}

export interface DisconnectResult {
  /** The user's connection count after this one was removed. */
  count: number;
  /** True when this was the user's last connection: the grace period has started and the caller arms a timer. */
  lastConnection: boolean;
}

/** A live node as the leases show it. */
export interface NodeLease {
  nodeId: string;
  /** Milliseconds since the epoch when the lease runs out unless renewed. */
  leaseExpiresAt: number;
}

/**
 * The store's three responsibilities, as the gateway uses them. One engine implements
 * all three in one class on purpose: reaping a dead node (NodeLeases) removes its
 * connections (UserPresence) and their group memberships (GroupMembership) in one
 * atomic step, which separate engines could not do without a cross-engine protocol.
 */
export interface UserPresence {
  /**
   * Registers one connection of a user, owned by `nodeId`. Idempotent per connId (a
   * repeat changes nothing and evicts nothing). With `limit`, the count check and the
   * insert are one atomic step: at most `limit.max` connections per user are ever
   * registered; `reject` throws GatewayError('TOO_MANY_CONNECTIONS'), `evict-oldest`
   * removes the oldest connections (by connect time) and returns them.
   */
  connect(userId: string, connId: string, nodeId: string, now: number, limit?: ConnectLimit): Promise<ConnectResult>;
  /** Unregisters a connection. When it was the last, the user enters grace until `now + graceMs`. Idempotent per connId. */
  disconnect(userId: string, connId: string, now: number, graceMs: number): Promise<DisconnectResult>;
  /**
   * Ends the user's grace period when it is due (deadline <= now) and the user still
   * has no connection. Returns true exactly once per offline transition, so exactly
   * one caller announces `offline`; false when not due, reconnected, or already done.
   */
  expire(userId: string, now: number): Promise<boolean>;
  /** Sets the chosen status of an online user; returns the previous one, or undefined when the user is offline. */
  setStatus(userId: string, status: ChosenStatus, now: number): Promise<ChosenStatus | undefined>;
  /** Raw records (status here is the chosen one, or 'offline' when not online). Unknown users get offline/0/0. */
  get(userIds: readonly string[]): Promise<Map<string, PresenceRecord>>;
}

/**
 * Group membership per connection. Independent of connect and disconnect: a closing
 * connection's groups are left by the service, one `leave` per group.
 */
export interface GroupMembership {
  /** Records that a connection joined a group. Idempotent. */
  join(group: string, userId: string, connId: string): Promise<void>;
  /** Records that a connection left a group (or closed). Idempotent. */
  leave(group: string, userId: string, connId: string): Promise<void>;
  /** Users with at least one connection in the group, at most `limit` of them, and the total number of such users. */
  members(group: string, limit: number): Promise<{ users: string[]; count: number }>;
}

/** Node liveness for shared stores; single-node stores implement both as no-ops. */
export interface NodeLeases {
  /**
   * Renews this node's lease until `now + leaseMs`. Shared stores use leases to find
   * nodes that died without unregistering their connections; single-node stores
   * need none and do nothing.
   */
  heartbeat(nodeId: string, leaseMs: number, now: number): Promise<void>;
  /**
   * Removes every connection (and group membership) owned by nodes whose lease ran
   * out before `now`, and returns the users who thereby lost their last connection.
   * Those users enter their grace period with a deadline of `now` (already due), so
   * one `expire` call per user decides, exactly once cluster-wide, who announces
   * `offline`. Safe to run on every node concurrently. Single-node stores return [].
   */
  reapDeadNodes(now: number): Promise<string[]>;
  /**
   * Nodes whose lease runs past `now`, with the lease deadline, ordered by node id
   * (cluster stats). Single-node stores return the nodes that called `heartbeat` on them.
   */
  liveNodes(now: number): Promise<NodeLease[]>;
}

export interface PresenceStore extends UserPresence, GroupMembership, NodeLeases {
  /** Flushes and releases resources. No call may follow. */
  close(): Promise<void>;
}
