import { GatewayError } from '../errors.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';
import type { PresenceService } from './presence.js';
import { topics } from './topics.js';

/**
 * Group membership of connections: the one path for a client's `join`/`leave` and for
 * the server-side join/leave of the HTTP API, so both confirm and roll back alike.
 */
export class Membership {
  /** Joins not yet confirmed, by connection and group: a repeated join waits for the first. */
  readonly #joining = new Map<string, Promise<void>>();

  constructor(private readonly deps: { hub: Hub; presence: PresenceService; maxGroupsPerConn: number }) {}

  /**
   * Makes the connection a member of `group`. Resolves only once the group topic is
   * subscribed on the broker and the membership recorded in presence, so a connection
   * told "joined" receives every group message published from then on, on any node. On
   * failure the membership is rolled back (local set, uWS subscription) and it rejects,
   * so a retry starts from scratch. Joining a group the connection is in (or joining)
   * resolves with that join.
   * @throws GatewayError BAD_REQUEST at Limits.MaxGroupsPerConn; UNAVAILABLE when the broker or store refused.
   */
  async join(conn: Connection, group: string): Promise<void> {
    const key = joinKey(conn, group);
    const pending = this.#joining.get(key);
    if (pending !== undefined) return pending;
    if (conn.groups.has(group)) return;
    this.checkRoom(conn);
    const { hub, presence } = this.deps;
    const topic = topics.group(group);
    // Recorded before subscribing so that a close meanwhile accounts for it (Hub.remove).
    conn.groups.add(group);
    const joining = (async () => {
      try {
        await hub.subscribe(conn, topic);
        await presence.joined(conn, group);
      } catch (err) {
        conn.groups.delete(group);
        hub.unsubscribe(conn, topic);
        throw err;
      }
    })();
    this.#joining.set(key, joining);
    try {
      await joining;
    } finally {
      this.#joining.delete(key);
    }
  }

  /** @throws GatewayError BAD_REQUEST when the connection is at Limits.MaxGroupsPerConn. */
  checkRoom(conn: Connection): void {
    if (conn.groups.size >= this.deps.maxGroupsPerConn) {
      throw new GatewayError('BAD_REQUEST', `at most ${this.deps.maxGroupsPerConn} groups per connection`);
    }
  }

  /**
   * Takes the connection out of `group` (a no-op when it is not a member). A leave right
   * behind a join of the same group waits for it, so the two apply in order.
   */
  async leave(conn: Connection, group: string): Promise<void> {
    // The join's own caller hears of its failure; here only its end matters.
    await this.#joining.get(joinKey(conn, group))?.then(noop, noop);
    if (!conn.groups.delete(group)) return;
    this.deps.hub.unsubscribe(conn, topics.group(group));
    await this.deps.presence.left(conn, group);
  }
}

function joinKey(conn: Connection, group: string): string {
  return `${conn.id}\u0000${group}`;
}

function noop(): void {}
