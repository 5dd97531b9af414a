import type { ApiRoute } from '../route.js';
import type { ApiServices } from '../services.js';

/** The counters behind messagesInPerSecond: messages accepted from clients and from the API. */
export const MESSAGES_IN = ['messages_direct_total', 'messages_group_total', 'messages_broadcast_total'] as const;
/** Behind messagesOutPerSecond: frames written to client sockets (a fan-out counts each recipient). */
export const MESSAGES_OUT = ['frames_out_total'] as const;

export function statsRoutes(s: ApiServices): ApiRoute[] {
  return [{
    method: 'GET',
    path: '/stats',
    operationId: 'getStats',
    summary: 'This node\'s load, and the live nodes in cluster mode',
    description: 'Counts are this node\'s. Rates are per second over the last 10 seconds. `nodes` (cluster mode only) lists '
      + 'every node whose presence lease is current.',
    answer: {
      type: 'object',
      required: ['node', 'uptimeSeconds', 'connections', 'users', 'groups', 'messagesInPerSecond', 'messagesOutPerSecond', 'memory'],
      properties: {
        node: { type: 'string' },
        uptimeSeconds: { type: 'number' },
        connections: { type: 'integer' },
        users: { type: 'integer', description: 'Users with a connection on this node' },
        groups: { type: 'integer', description: 'Groups with a member connection on this node' },
        messagesInPerSecond: { type: 'number', description: 'Direct, group and broadcast messages accepted (clients and API)' },
        messagesOutPerSecond: { type: 'number', description: 'Frames written to client sockets' },
        memory: { type: 'object', required: ['rss', 'heapUsed'], properties: { rss: { type: 'integer' }, heapUsed: { type: 'integer' } } },
        nodes: {
          type: 'array',
          items: { type: 'object', required: ['node', 'leaseExpiresAt'], properties: { node: { type: 'string' }, leaseExpiresAt: { type: 'integer' } } },
        },
      },
    },
    errors: ['UNAVAILABLE'],
    handle: async () => {
      const now = Date.now();
      const mem = process.memoryUsage();
      const stats: Record<string, unknown> = {
        node: s.nodeId,
        uptimeSeconds: Math.round((now - s.startedAt) / 100) / 10,
        connections: s.hub.size,
        users: s.hub.userCount,
        groups: s.hub.localGroupCount(),
        messagesInPerSecond: s.rates.perSecond(MESSAGES_IN),
        messagesOutPerSecond: s.rates.perSecond(MESSAGES_OUT),
        memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      };
      if (s.cluster) {
        stats['nodes'] = (await s.presenceStore.liveNodes(now)).map((n) => ({ node: n.nodeId, leaseExpiresAt: n.leaseExpiresAt }));
      }
      return stats;
    },
  }];
}
