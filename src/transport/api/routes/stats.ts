import type { ApiRoute } from '../route.js';
import type { ApiServices } from '../services.js';

/** The counters behind messagesInPerSecond: messages accepted from clients and from the API. */
export const MESSAGES_IN = ['messages_direct_total', 'messages_group_total', 'messages_broadcast_total'] as const;
/** Behind messagesOutPerSecond: frames written to client sockets (a fan-out counts each recipient). */
export const MESSAGES_OUT = ['frames_out_total'] as const;

/** Groups listed in `largestGroups`. */
const LARGEST_GROUPS = 10;

const percentiles = (what: string) => ({
  type: 'object',
  required: ['p50Ms', 'p99Ms'],
  description: what,
  properties: { p50Ms: { type: 'number' }, p99Ms: { type: 'number' } },
});

export function statsRoutes(s: ApiServices): ApiRoute[] {
  return [{
    method: 'GET',
    path: '/stats',
    operationId: 'getStats',
    summary: 'This node\'s load, and the live nodes in cluster mode',
    description: 'Counts are this node\'s. Rates, latency, error rate and event-loop delay are over the last 10 seconds. '
      + '`alerts` lists every rule of Alerts.Rules with its state. `nodes` (cluster mode only) lists every node whose presence lease is current.',
    answer: {
      type: 'object',
      required: [
        'node', 'uptimeSeconds', 'connections', 'users', 'groups', 'messagesInPerSecond', 'messagesOutPerSecond', 'memory',
        'latency', 'errorRate', 'eventLoop', 'alerts', 'largestGroups',
      ],
      properties: {
        node: { type: 'string' },
        uptimeSeconds: { type: 'number' },
        connections: { type: 'integer' },
        users: { type: 'integer', description: 'Users with a connection on this node' },
        groups: { type: 'integer', description: 'Groups with a member connection on this node' },
        messagesInPerSecond: { type: 'number', description: 'Direct, group and broadcast messages accepted (clients and API)' },
        messagesOutPerSecond: { type: 'number', description: 'Frames written to client sockets' },
        memory: { type: 'object', required: ['rss', 'heapUsed'], properties: { rss: { type: 'integer' }, heapUsed: { type: 'integer' } } },
        latency: percentiles('Frame handling (decoded to reply or fan-out handed to the socket), milliseconds'),
        errorRate: { type: 'number', description: '(refused upgrades + error frames + abnormal closes) / (upgrade attempts + frames received), 0..1' },
        eventLoop: percentiles('Event-loop delay, milliseconds'),
        alerts: {
          type: 'array',
          items: {
            type: 'object',
            required: ['rule', 'metric', 'state', 'value', 'threshold', 'forMs'],
            properties: {
              rule: { type: 'string' },
              metric: { type: 'string', enum: ['connections', 'latency_p99_ms', 'error_rate', 'memory_rss_mb', 'event_loop_p99_ms'] },
              state: { type: 'string', enum: ['firing', 'ok'] },
              value: { type: 'number', description: 'The metric at the last evaluation' },
              threshold: { type: 'number' },
              forMs: { type: 'integer' },
              since: { type: 'integer', description: 'When the rule last changed state (ms since the epoch); absent before its first change' },
            },
          },
        },
        largestGroups: {
          type: 'array',
          description: `The ${LARGEST_GROUPS} groups with the most member connections on this node, largest first`,
          items: { type: 'object', required: ['group', 'connections'], properties: { group: { type: 'string' }, connections: { type: 'integer' } } },
        },
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
      const vitals = s.vitals.read(10_000);
      const stats: Record<string, unknown> = {
        node: s.nodeId,
        uptimeSeconds: Math.round((now - s.startedAt) / 100) / 10,
        connections: s.hub.size,
        users: s.hub.userCount,
        groups: s.hub.localGroupCount(),
        messagesInPerSecond: s.rates.perSecond(MESSAGES_IN),
        messagesOutPerSecond: s.rates.perSecond(MESSAGES_OUT),
        memory: { rss: mem.rss, heapUsed: mem.heapUsed },
        latency: { p50Ms: vitals.latencyP50Ms, p99Ms: vitals.latencyP99Ms },
        errorRate: vitals.errorRate,
        eventLoop: { p50Ms: vitals.eventLoopP50Ms, p99Ms: vitals.eventLoopP99Ms },
        alerts: s.alerts.list(),
        largestGroups: s.hub.largestGroups(LARGEST_GROUPS),
      };
      if (s.cluster) {
        stats['nodes'] = (await s.presenceStore.liveNodes(now)).map((n) => ({ node: n.nodeId, leaseExpiresAt: n.leaseExpiresAt }));
      }
      return stats;
    },
  }];
}
