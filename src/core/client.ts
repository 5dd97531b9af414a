import { GatewayError, toGatewayError } from '../errors.js';
import type { ClientFrame, ServerFrame } from '../protocol/frames.js';
import { errorFrame } from '../protocol/codec.js';
import type { Connection } from './connection.js';
import type { DirectPolicy } from './direct-policy.js';
import type { ContentFilter } from './filter/content-filter.js';
import type { Hub } from './hub.js';
import type { Metrics } from '../metrics/registry.js';
import type { Messaging } from './messaging.js';
import type { Membership } from './membership.js';
import type { PresenceService } from './presence.js';
import { frameFingerprint, resendKey, type ResendGuard } from './resends.js';
import type { Rooms } from './rooms.js';

export interface ClientDeps {
  hub: Hub;
  messaging: Messaging;
  presence: PresenceService;
  rooms: Rooms;
  membership: Membership;
  resends: ResendGuard;
  direct: DirectPolicy;
  filter: ContentFilter;
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
        await this.deps.direct.check(conn, frame.data.to);
        const content = this.deps.filter.apply('message', frame.data.content);
        this.deps.metrics.inc('messages_direct_total');
        const to = frame.data.to;
        reply(await messaging.direct(userId, to, content, id === undefined ? undefined : resendKey(id, frameFingerprint('message', to, content))));
        return;
      }
      case 'join':
        await this.deps.rooms.join(conn, frame.data, id);
        return;
      case 'leave': {
        const group = frame.data.group;
        await this.deps.membership.leave(conn, group);
        reply({ status: 'ok', group, timestamp: this.deps.clock() });
        return;
      }
      case 'group': {
        const data = frame.data;
        // Refused frames are answered at once, before any resend bookkeeping.
        this.deps.rooms.checkPublish(conn, data.group);
        const publish = () => this.deps.rooms.publish(conn, data);
        reply(id === undefined ? await publish() : await this.deps.resends.once(userId, 'group', id, frameFingerprint('group', data.group, [data.content, data.important === true]), publish));
        return;
      }
      case 'history':
        hub.send(conn, await this.deps.rooms.history(conn, frame.data, id));
        return;
      case 'broadcast': {
        if (!conn.principal.perms.has('broadcast')) throw new GatewayError('FORBIDDEN', 'broadcast needs the broadcast permission');
        const content = this.deps.filter.apply('broadcast', frame.data.content);
        this.deps.metrics.inc('messages_broadcast_total');
        const send = () => messaging.broadcast(userId, content);
        reply(id === undefined ? await send() : await this.deps.resends.once(userId, 'broadcast', id, frameFingerprint('broadcast', '', content), send));
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
        if ('group' in data) {
          this.deps.rooms.checkPresenceQuery(data.group);
          reply(await presence.groupQuery(conn, data.group), 'presence');
        }
        else reply({ users: await presence.query(data.users) }, 'presence');
        return;
      }
      case 'ack': {
        const removed = await messaging.ack(userId, frame.data.upTo, frame.data.epoch);
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
