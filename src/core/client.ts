import { GatewayError, toGatewayError } from '../errors.js';
import type { ClientFrame, ServerFrame } from '../protocol/frames.js';
import { errorFrame } from '../protocol/codec.js';
import type { Connection } from './connection.js';
import type { GroupPolicy } from './group-policy.js';
import type { Hub } from './hub.js';
import type { Metrics } from '../metrics/registry.js';
import type { Messaging } from './messaging.js';
import type { Membership } from './membership.js';
import type { PresenceService } from './presence.js';

export interface ClientDeps {
  hub: Hub;
  messaging: Messaging;
  presence: PresenceService;
  groups: GroupPolicy;
  membership: Membership;
  clock: () => number;
  metrics: Metrics;
}

/**
 * Carries out one decoded client frame for one connection and answers it. Every
 * frame with an `id` gets exactly one reply carrying that id (an ack, a pong, a
 * query answer or an error); replies to frames without an id are sent all the
 * same, without one, except for the inbox's `ack` and `sync`, which clients send
 * often and which answer only when asked (with an id). Errors never escape: they
 * become error frames.
 */
export class ClientHandler {
  constructor(private readonly deps: ClientDeps) {}

  async handle(conn: Connection, frame: ClientFrame): Promise<void> {
    try {
      await this.#dispatch(conn, frame);
    } catch (err) {
      const gatewayError = toGatewayError(err);
      // Every error reply counts, FORBIDDEN and the rest alike, not only the session's gates.
      this.deps.metrics.inc('frames_rejected_total');
      if (gatewayError.code === 'INTERNAL') conn.log.error({ err, type: frame.type }, 'frame failed');
      this.deps.hub.send(conn, errorFrame(gatewayError, frame.id));
    }
  }

  async #dispatch(conn: Connection, frame: ClientFrame): Promise<void> {
    const { hub, messaging, presence } = this.deps;
    const userId = conn.principal.userId;
    const id = frame.id;
    const reply = (data: Record<string, unknown>, type: 'ack' | 'presence' | 'sync' = 'ack') => {
      // The three reply types share the envelope; their data shapes are checked where built.
      hub.send(conn, (id === undefined ? { type, data } : { type, id, data }) as ServerFrame);
    };

    switch (frame.type) {
      case 'ping':
        hub.send(conn, id === undefined ? { type: 'pong', data: { timestamp: this.deps.clock() } } : { type: 'pong', id, data: { timestamp: this.deps.clock() } });
        return;
      case 'message': {
        if (frame.data.from !== undefined && frame.data.from !== userId) {
          throw new GatewayError('FORBIDDEN', 'data.from must be your own user id');
        }
        this.deps.metrics.inc('messages_direct_total');
        reply(await messaging.direct(userId, frame.data.to, frame.data.content));
        return;
      }
      case 'join': {
        const group = frame.data.group;
        if (!this.deps.groups.mayJoin(conn.principal.groups, group)) throw new GatewayError('FORBIDDEN', `may not join ${group}`);
        await this.deps.membership.join(conn, group);
        reply({ status: 'ok', group, timestamp: this.deps.clock() });
        return;
      }
      case 'leave': {
        const group = frame.data.group;
        await this.deps.membership.leave(conn, group);
        reply({ status: 'ok', group, timestamp: this.deps.clock() });
        return;
      }
      case 'group': {
        if (!conn.groups.has(frame.data.group)) throw new GatewayError('FORBIDDEN', `not a member of ${frame.data.group}`);
        this.deps.metrics.inc('messages_group_total');
        reply(await messaging.group(userId, frame.data.group, frame.data.content));
        return;
      }
      case 'broadcast': {
        if (!conn.principal.perms.has('broadcast')) throw new GatewayError('FORBIDDEN', 'broadcast needs the broadcast permission');
        this.deps.metrics.inc('messages_broadcast_total');
        reply(await messaging.broadcast(userId, frame.data.content));
        return;
      }
      case 'status':
        await presence.setStatus(conn, frame.data.status);
        reply({ status: 'ok', timestamp: this.deps.clock() });
        return;
      case 'watch':
        await presence.watch(conn, frame.data.users);
        reply({ status: 'ok', watching: conn.watching.size, timestamp: this.deps.clock() });
        return;
      case 'unwatch':
        presence.unwatch(conn, frame.data.users);
        reply({ status: 'ok', watching: conn.watching.size, timestamp: this.deps.clock() });
        return;
      case 'presence': {
        const data = frame.data;
        if ('group' in data) reply(await presence.groupQuery(conn, data.group), 'presence');
        else reply({ users: await presence.query(data.users) }, 'presence');
        return;
      }
      case 'ack': {
        const removed = await messaging.ack(userId, frame.data.upTo);
        if (id !== undefined) reply({ status: 'ok', upTo: frame.data.upTo, removed, timestamp: this.deps.clock() });
        return;
      }
      case 'sync': {
        const count = await messaging.replay(conn, frame.data.after);
        if (id !== undefined) reply({ count }, 'sync');
        return;
      }
    }
  }
}
