import type { ClusterControl } from '../../core/control.js';
import type { Hub } from '../../core/hub.js';
import type { Messaging } from '../../core/messaging.js';
import type { PresenceService } from '../../core/presence.js';
import type { Rooms } from '../../core/rooms.js';
import type { ContentFilter } from '../../core/filter/content-filter.js';
import type { PresenceStore } from '../../engine/presence.js';
import type { Metrics } from '../../metrics/registry.js';
import type { RateWindow } from '../../metrics/rates.js';
import type { Alerts } from '../../metrics/alerts.js';
import type { Vitals } from '../../metrics/vitals.js';

/** What the API's handlers act on: the same services the WebSocket side uses. */
export interface ApiServices {
  messaging: Messaging;
  /** Group publishes go through the rooms (history, the content filter's `api` target). */
  rooms: Rooms;
  /** The content filter, applied to pushes and broadcasts with its `api` target. */
  filter: ContentFilter;
  presence: PresenceService;
  control: ClusterControl;
  hub: Hub;
  presenceStore: PresenceStore;
  metrics: Metrics;
  rates: RateWindow;
  /** Latency, error rate and event-loop delay over the last 10 s. */
  vitals: Vitals;
  /** The alert rules and their states. */
  alerts: Alerts;
  nodeId: string;
  /** Milliseconds since the epoch when the gateway started. */
  startedAt: number;
  /** True with a Redis section: stats then list the live nodes. */
  cluster: boolean;
  /** Limits.MaxMessageBytes: the most a message's content may take as JSON. */
  maxContentBytes: number;
  /** Most user ids in one list (push recipients, members, presence query). */
  maxUsersPerList: number;
}

/** Schemas several routes share. */
export const SCHEMAS = {
  userId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\p{L}\\p{N}_\\-.:@]+$', description: 'A user id: 1-128 letters, digits or _-.:@' },
  group: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\p{L}\\p{N}_\\-.:@]+$', description: 'A group name: 1-128 letters, digits or _-.:@ (URL-encoded in paths: live%3A7)' },
  content: { description: 'Any JSON value (null included), at most Limits.MaxMessageBytes as JSON; same depth, string and key limits as a client frame' },
  from: { type: 'string', minLength: 1, maxLength: 128, description: 'Sender id shown to recipients; default "system" (no token may use it)' },
  mid: { type: 'string', description: 'Message id, unique per gateway node' },
} as const;
