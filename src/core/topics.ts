import type { Format } from '../protocol/frames.js';

const USER_PREFIX = 'u:';

/**
 * Logical topics name who a frame is for; each maps to one uWS topic per wire
 * format so that a frame is encoded once per format and fanned out natively.
 * Logical topics cross nodes through the Broker; format topics never leave a node.
 */
export const topics = {
  /** Every connection of one user. */
  user: (userId: string) => `${USER_PREFIX}${userId}`,
  /** Every member connection of one group. */
  group: (group: string) => `g:${group}`,
  /** Every connection (global broadcast). */
  all: 'all',
  /** Watchers of one user's presence. */
  presence: (userId: string) => `p:${userId}`,
  /** One node's control channel (kicks); broker-only, never a uWS topic. */
  node: (nodeId: string) => `n:${nodeId}`,
  /** Every node's control channel (HTTP API actions on users' connections); broker-only, never a uWS topic. */
  cluster: 'ctl',
} as const;

/** True when `logical` is a user topic (see topics.user). Allocates nothing. */
export function isUserTopic(logical: string): boolean {
  return logical.startsWith(USER_PREFIX);
}

/** The user whose topic `logical` is (see topics.user), or undefined for any other topic. */
export function userOfTopic(logical: string): string | undefined {
  return logical.startsWith(USER_PREFIX) ? logical.slice(USER_PREFIX.length) : undefined;
}

const SUFFIX: Record<Format, string> = { json: '|j', msgpack: '|m' };

export function formatTopic(logical: string, format: Format): string {
  return logical + SUFFIX[format];
}
