import type { ApiRoute } from '../route.js';
import { SCHEMAS, type ApiServices } from '../services.js';
import { content, groupParam, important, recipients, sender } from '../fields.js';

/** Push, group publish and broadcast: the same paths as a client's message, group and broadcast frames. */
export function messageRoutes(s: ApiServices): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/push',
      operationId: 'push',
      summary: 'Send a direct message to 1-1000 users',
      description: 'Each recipient gets the usual `message` frame through the same path as a client message: appended to the '
        + 'durable inbox first (so it has a seq, is replayed on connect until acknowledged and produces receipts), then '
        + 'delivered to every connection of the recipient on every node. `delivered` means a connection was online, `stored` '
        + 'that it waits in the inbox. Results are in request order.',
      body: {
        type: 'object',
        required: ['to', 'content'],
        properties: {
          to: { oneOf: [SCHEMAS.userId, { type: 'array', items: SCHEMAS.userId, minItems: 1, maxItems: s.maxUsersPerList, uniqueItems: true }] },
          content: SCHEMAS.content,
          from: SCHEMAS.from,
        },
      },
      answer: {
        type: 'object',
        required: ['results'],
        properties: {
          results: {
            type: 'array',
            items: {
              type: 'object',
              required: ['to', 'mid', 'seq', 'status'],
              properties: {
                to: SCHEMAS.userId,
                mid: SCHEMAS.mid,
                seq: { type: 'integer', description: 'Position in the recipient\'s inbox' },
                status: { enum: ['delivered', 'stored'] },
              },
            },
          },
        },
      },
      errors: ['BAD_REQUEST', 'TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT', 'CONTENT_REJECTED', 'UNAVAILABLE'],
      handle: async ({ body }) => {
        const to = recipients(body, 'to', s.maxUsersPerList, true);
        const value = s.filter.apply('api', content(body, s.maxContentBytes));
        const from = sender(body);
        // Per-recipient queues keep each user's order; different recipients proceed in parallel.
        const results = await Promise.all(to.map(async (user) => {
          const ack = await s.messaging.direct(from, user, value);
          return { to: user, mid: ack.mid, seq: ack['seq'], status: ack.status };
        }));
        s.metrics.inc('messages_direct_total', to.length);
        s.metrics.inc('api_messages_total', to.length);
        return { results };
      },
    },
    {
      method: 'POST',
      path: '/groups/{group}/publish',
      operationId: 'publishToGroup',
      summary: 'Publish a message to a group',
      description: 'Every member connection, on every node, gets the usual `group` frame. Kept in the group\'s history when its rule has History, '
        + 'or when `important` is true (Groups.ImportantHistory); the answer then carries `offset` and `epoch`. Otherwise members offline now miss it.',
      params: { group: { description: 'The group, URL-encoded', schema: SCHEMAS.group } },
      body: {
        type: 'object',
        required: ['content'],
        properties: {
          content: SCHEMAS.content,
          from: SCHEMAS.from,
          important: { type: 'boolean', description: 'Keep it in the group history even when the group\'s rule keeps none (default false)' },
        },
      },
      answer: { type: 'object', required: ['mid'], properties: { mid: SCHEMAS.mid, offset: { type: 'integer', description: 'Position in the group history (groups with History)' }, epoch: { type: 'string', description: 'History epoch (groups with History)' } } },
      errors: ['BAD_REQUEST', 'TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT', 'CONTENT_REJECTED', 'UNAVAILABLE'],
      handle: async ({ params, body }) => {
        const group = groupParam(params['group']!);
        const value = content(body, s.maxContentBytes);
        const ack = await s.rooms.publishFromBackend(sender(body), group, value, important(body));
        s.metrics.inc('api_messages_total');
        return ack.offset === undefined ? { mid: ack.mid } : { mid: ack.mid, offset: ack.offset, epoch: ack.epoch };
      },
    },
    {
      method: 'POST',
      path: '/broadcast',
      operationId: 'broadcast',
      summary: 'Broadcast a message to every connection',
      description: 'Every connection on every node gets the usual `broadcast` frame. Not stored.',
      body: { type: 'object', required: ['content'], properties: { content: SCHEMAS.content, from: SCHEMAS.from } },
      answer: { type: 'object', required: ['mid'], properties: { mid: SCHEMAS.mid } },
      errors: ['BAD_REQUEST', 'TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT', 'CONTENT_REJECTED', 'UNAVAILABLE'],
      handle: async ({ body }) => {
        const value = s.filter.apply('api', content(body, s.maxContentBytes));
        const ack = await s.messaging.broadcast(sender(body), value);
        s.metrics.inc('messages_broadcast_total');
        s.metrics.inc('api_messages_total');
        return { mid: ack.mid };
      },
    },
  ];
}
