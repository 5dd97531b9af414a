import type { ApiRoute } from '../route.js';
import { SCHEMAS, type ApiServices } from '../services.js';
import { closeReason, groupParam, MAX_REASON_BYTES, recipients, userParam } from '../fields.js';

const MEMBERS_ANSWER = {
  type: 'object',
  required: ['group', 'users'],
  properties: { group: SCHEMAS.group, users: { type: 'array', items: SCHEMAS.userId } },
};

/** Actions on users' live connections, cluster-wide: server-side join/leave and disconnect. */
export function connectionRoutes(s: ApiServices): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/groups/{group}/members',
      operationId: 'addGroupMembers',
      summary: 'Join every current connection of users to a group',
      description: 'As if each connection had sent `join` (no group permission needed): it receives the group\'s messages, is '
        + 'counted in group presence, and members get `member` events when Presence.GroupEvents is on. Applies to the '
        + 'connections open now on every node (other nodes within milliseconds of the answer); a later connection does not '
        + 'inherit it. Connections at Limits.MaxGroupsPerConn are skipped.',
      params: { group: { description: 'The group, URL-encoded', schema: SCHEMAS.group } },
      body: {
        type: 'object',
        required: ['users'],
        properties: { users: { type: 'array', items: SCHEMAS.userId, minItems: 1, maxItems: s.maxUsersPerList, uniqueItems: true } },
      },
      answer: MEMBERS_ANSWER,
      errors: ['BAD_REQUEST', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT', 'UNAVAILABLE'],
      handle: async ({ params, body }) => {
        const group = groupParam(params['group']!);
        const users = recipients(body, 'users', s.maxUsersPerList, false);
        await s.control.join(users, group);
        return { group, users };
      },
    },
    {
      method: 'DELETE',
      path: '/groups/{group}/members/{user}',
      operationId: 'removeGroupMember',
      summary: 'Remove every connection of a user from a group',
      description: 'As if each connection had sent `leave`, on every node.',
      params: {
        group: { description: 'The group, URL-encoded', schema: SCHEMAS.group },
        user: { description: 'The user, URL-encoded', schema: SCHEMAS.userId },
      },
      answer: MEMBERS_ANSWER,
      errors: ['BAD_REQUEST', 'UNAVAILABLE'],
      handle: async ({ params }) => {
        const group = groupParam(params['group']!);
        const user = userParam(params['user']!, 'user');
        await s.control.leave([user], group);
        return { group, users: [user] };
      },
    },
    {
      method: 'POST',
      path: '/users/{user}/disconnect',
      operationId: 'disconnectUser',
      summary: 'Close every connection of a user, on every node',
      description: 'Connections are closed with code 4010 ("disconnected by the server; do not reconnect automatically"). '
        + '`closed` is how many connections the user had cluster-wide when the call arrived. To keep a user out, also stop '
        + 'issuing tokens to them: a client may still reconnect with a valid token.',
      params: { user: { description: 'The user, URL-encoded', schema: SCHEMAS.userId } },
      body: { type: 'object', properties: { reason: { type: 'string', maxLength: MAX_REASON_BYTES, description: `Close reason, at most ${MAX_REASON_BYTES} bytes of UTF-8` } } },
      answer: { type: 'object', required: ['closed'], properties: { closed: { type: 'integer' } } },
      errors: ['BAD_REQUEST', 'UNSUPPORTED_MEDIA_TYPE', 'CONFLICT', 'UNAVAILABLE'],
      handle: async ({ params, body }) => {
        const user = userParam(params['user']!, 'user');
        return { closed: await s.control.disconnect(user, closeReason(body, 'disconnected by the server')) };
      },
    },
  ];
}
