import type { Logger } from 'pino';
import { CLOSE } from '../errors.js';
import type { PresenceStore } from '../engine/presence.js';
import type { Metrics } from '../metrics/registry.js';
import type { ControlOut } from '../protocol/frames.js';
import type { Hub } from './hub.js';
import type { Membership } from './membership.js';

/**
 * Backend actions on users' connections wherever they are: disconnect, and server-side
 * join/leave of a group. The node that takes the request acts on its own connections at
 * once and sends a control frame on the cluster control topic; every other node applies
 * it to its connections when it arrives (milliseconds later, not awaited). Control
 * frames never reach a client. An action covers the connections open when it arrives;
 * a connection opened later is not affected (a server-side join does not follow the
 * user to a new connection).
 */
export class ClusterControl {
  readonly #hub: Hub;
  readonly #membership: Membership;
  readonly #store: PresenceStore;
  readonly #metrics: Metrics;
  readonly #log: Logger;

  constructor(deps: { hub: Hub; membership: Membership; store: PresenceStore; metrics: Metrics; log: Logger }) {
    this.#hub = deps.hub;
    this.#membership = deps.membership;
    this.#store = deps.store;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#hub.onControl((frame) => {
      this.#apply(frame).catch((err: unknown) => this.#log.error({ err, action: frame.data.action }, 'control action failed'));
    });
  }

  /**
   * Closes every connection of `userId` on every node with 4010. Returns how many
   * connections the user had cluster-wide (the presence store's count; at least the
   * ones closed here) at the moment of the call.
   */
  async disconnect(userId: string, reason: string): Promise<number> {
    const registered = (await this.#store.get([userId])).get(userId)?.connections ?? 0;
    const local = this.#disconnectLocal([userId], CLOSE.DISCONNECTED, reason);
    await this.#hub.publishControl({ type: 'control', data: { action: 'disconnect', users: [userId], code: CLOSE.DISCONNECTED, reason } });
    return Math.max(registered, local);
  }

  /** Joins every connection of `users`, on every node, to `group` (as if each had sent `join`). */
  async join(users: readonly string[], group: string): Promise<void> {
    await this.#joinLocal(users, group);
    await this.#hub.publishControl({ type: 'control', data: { action: 'join', users: [...users], group } });
  }

  /** Removes every connection of `users`, on every node, from `group` (as if each had sent `leave`). */
  async leave(users: readonly string[], group: string): Promise<void> {
    await this.#leaveLocal(users, group);
    await this.#hub.publishControl({ type: 'control', data: { action: 'leave', users: [...users], group } });
  }

  async #apply(frame: ControlOut): Promise<void> {
    const data = frame.data;
    if (data.action === 'disconnect') this.#disconnectLocal(data.users, data.code, data.reason);
    else if (data.action === 'join') await this.#joinLocal(data.users, data.group);
    else if (data.action === 'leave') await this.#leaveLocal(data.users, data.group);
  }

  #disconnectLocal(users: readonly string[], code: number, reason: string): number {
    let closed = 0;
    for (const userId of users) {
      for (const conn of this.#hub.userConnections(userId)) {
        if (conn.socket === undefined) continue;
        conn.socket.end(code, reason);
        closed += 1;
      }
    }
    if (closed > 0) {
      this.#metrics.inc('api_disconnects_total', closed);
      this.#log.info({ users: users.length, closed }, 'disconnected by the API');
    }
    return closed;
  }

  async #joinLocal(users: readonly string[], group: string): Promise<void> {
    const work: Promise<void>[] = [];
    for (const userId of users) {
      for (const conn of this.#hub.userConnections(userId)) {
        if (conn.socket === undefined) continue;
        work.push(this.#membership.join(conn, group).catch((err: unknown) => {
          this.#log.warn({ err, connId: conn.id, userId, group }, 'server-side join not applied to this connection');
        }));
      }
    }
    await Promise.all(work);
  }

  async #leaveLocal(users: readonly string[], group: string): Promise<void> {
    const work: Promise<void>[] = [];
    for (const userId of users) {
      for (const conn of this.#hub.userConnections(userId)) work.push(this.#membership.leave(conn, group));
    }
    await Promise.all(work);
  }
}
