import type { ApiRoute } from '../route.js';
import { SCHEMAS, type ApiServices } from '../services.js';
import { groupParam, userQuery } from '../fields.js';

const USER_PRESENCE = {
  type: 'object',
  required: ['status', 'lastSeen', 'connections'],
  properties: {
    status: { enum: ['online', 'away', 'busy', 'offline'], description: 'Invisible users appear offline' },
    lastSeen: { type: 'integer', description: 'Milliseconds since the epoch; now while connected, 0 if never seen' },
    connections: { type: 'integer', description: 'Open connections across the cluster (0 for invisible users)' },
  },
};

/** Presence queries, with the same answers as the WebSocket `presence` frame. */
export function presenceRoutes(s: ApiServices): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/presence',
      operationId: 'getPresence',
      summary: 'Presence of users',
      query: [{
        name: 'users',
        required: true,
        description: `Comma-separated user ids, 1-${s.maxUsersPerList}`,
        schema: { type: 'string' },
      }],
      answer: { type: 'object', required: ['users'], properties: { users: { type: 'object', additionalProperties: USER_PRESENCE } } },
      errors: ['BAD_REQUEST', 'UNAVAILABLE'],
      handle: async ({ query }) => ({ users: await s.presence.query(userQuery(query, s.maxUsersPerList)) }),
    },
    {
      method: 'GET',
      path: '/groups/{group}/presence',
      operationId: 'getGroupPresence',
      summary: 'Online members of a group',
      description: 'Users with at least one connection in the group who are visible (not invisible); at most 1000 are listed.',
      params: { group: { description: 'The group, URL-encoded', schema: SCHEMAS.group } },
      answer: {
        type: 'object',
        required: ['group', 'online', 'count'],
        properties: { group: SCHEMAS.group, online: { type: 'array', items: SCHEMAS.userId }, count: { type: 'integer' } },
      },
      errors: ['BAD_REQUEST', 'UNAVAILABLE'],
      handle: async ({ params }) => s.presence.groupOnline(groupParam(params['group']!)),
    },
  ];
}
