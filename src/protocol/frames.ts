/**
 * Frame types of the Switchboard wire protocol (docs/protocol.md is the reference).
 * Every frame is an envelope `{ type, id?, data? }`; `id` is the client's correlation
 * id (at most 64 characters) and is echoed in the reply to that frame.
 */

/** The wire formats a connection can negotiate. Binary frames are always MessagePack, text frames always JSON. */
export type Format = 'json' | 'msgpack';
export const FORMATS: readonly Format[] = ['json', 'msgpack'];

export type UserStatus = 'online' | 'away' | 'busy' | 'offline' | 'invisible';
/** Statuses a client may set for itself (offline is derived from having no connection). */
export const SETTABLE_STATUSES = ['online', 'away', 'busy', 'invisible'] as const;

/** Message content is any JSON-compatible value (string, number, boolean, null, array, object). */
export type Content = unknown;

// ---- client → server ----------------------------------------------------------

export interface MessageIn { type: 'message'; id?: string; data: { to: string; content: Content; from?: string } }
/** A position in a group's history: the last offset seen within an epoch. */
export interface StreamPosition { offset: number; epoch: string }
/** `since`: the position a member reached before it left; the gateway replays what followed (recovery). */
export interface JoinIn { type: 'join'; id?: string; data: { group: string; since?: StreamPosition } }
export interface LeaveIn { type: 'leave'; id?: string; data: { group: string } }
/** `important: true` keeps the message in the group's history even when its rule keeps none. */
export interface GroupIn { type: 'group'; id?: string; data: { group: string; content: Content; important?: boolean } }
export interface BroadcastIn { type: 'broadcast'; id?: string; data: { content: Content } }
export interface PingIn { type: 'ping'; id?: string; data?: Record<string, never> }
export interface StatusIn { type: 'status'; id?: string; data: { status: (typeof SETTABLE_STATUSES)[number] } }
export interface WatchIn { type: 'watch'; id?: string; data: { users: string[] } }
export interface UnwatchIn { type: 'unwatch'; id?: string; data: { users: string[] } }
export interface PresenceIn { type: 'presence'; id?: string; data: { users: string[] } | { group: string } }
/** Cumulative inbox acknowledgement: every message with seq <= upTo was received. */
/** `epoch`: the inbox epoch of the messages acknowledged; another epoch than the user's current one removes nothing. */
export interface AckIn { type: 'ack'; id?: string; data: { upTo: number; epoch?: string } }
/** Ask for every unacknowledged inbox message with seq > after. */
export interface SyncIn { type: 'sync'; id?: string; data: { after: number } }

/** Pages backwards through a group's history: the newest `limit` messages with offset < before. */
export interface HistoryIn { type: 'history'; id?: string; data: { group: string; before?: number; limit?: number } }

/** Replace the connection's token before it expires (same `sub`); answered by `ack`. */
export interface RefreshIn { type: 'refresh'; id?: string; data: { token: string } }

export type ClientFrame =
  | MessageIn | JoinIn | LeaveIn | GroupIn | BroadcastIn | PingIn
  | StatusIn | WatchIn | UnwatchIn | PresenceIn | AckIn | SyncIn | HistoryIn | RefreshIn;

export type ClientFrameType = ClientFrame['type'];

// ---- server → client ----------------------------------------------------------

/** The seed's direct-message shape; later fields (seq, offline) are additions, never renames. */
export interface MessageOut {
  type: 'message';
  data: { mid: string; from: string; to: string; content: Content; timestamp: number; seq?: number; epoch?: string; offline?: true };
}
/**
 * `offset` and `epoch` are present when the message was kept in the group's history;
 * `recovered: true` marks a message replayed after `join {since}`.
 */
export interface GroupOut {
  type: 'group';
  data: {
    mid: string; from: string; group: string; content: Content; timestamp: number;
    offset?: number; epoch?: string; important?: true; recovered?: true;
  };
}
/** The answer to `history`: messages oldest first, and the group's current position. */
export interface HistoryOut { type: 'history'; id?: string; data: { group: string; epoch: string; offset: number; messages: GroupOut['data'][] } }
export interface BroadcastOut { type: 'broadcast'; data: { mid: string; from: string; content: Content; timestamp: number } }
export type AckStatus = 'delivered' | 'stored' | 'accepted' | 'ok';
export interface AckOut { type: 'ack'; id?: string; data: { mid?: string; status: AckStatus; timestamp: number } & Record<string, unknown> }
export interface PongOut { type: 'pong'; id?: string; data: { timestamp: number } }
export interface ErrorOut { type: 'error'; id?: string; data: { code: string; message: string } & Record<string, unknown> }
export interface StatusOut { type: 'status'; data: { userId: string; status: UserStatus; timestamp: number; group?: string } }
export interface PresenceOut { type: 'presence'; id?: string; data: Record<string, unknown> }
export interface ReceiptOut { type: 'receipt'; data: { mid: string; to: string; status: 'delivered'; timestamp: number } }
/** Group membership event, sent to members only when Presence.GroupEvents is on. */
export interface MemberOut { type: 'member'; data: { group: string; userId: string; event: 'join' | 'leave'; timestamp: number } }
/**
 * Node-to-node control frame, never sent to a client: asks the node that owns
 * connection `connId` to close it (cluster-wide evict-oldest). Travels on the owning
 * node's control topic `n:<nodeId>`.
 */
export interface KickOut { type: 'kick'; data: { connId: string; code: number; reason: string } }
/**
 * Cluster-wide control frame, never sent to a client: every node applies it to its own
 * connections of `users` (HTTP API disconnect and server-side join/leave). Travels on
 * the cluster control topic, which every node's broker subscribes at start.
 */
export interface ControlOut {
  type: 'control';
  data:
    | { action: 'disconnect'; users: string[]; code: number; reason: string }
    | { action: 'join' | 'leave'; users: string[]; group: string };
}
export interface SyncOut { type: 'sync'; id?: string; data: { dropped?: number; count?: number; upTo?: number } }

export type ServerFrame =
  | MessageOut | GroupOut | BroadcastOut | AckOut | PongOut | ErrorOut
  | StatusOut | PresenceOut | ReceiptOut | SyncOut | MemberOut | KickOut | ControlOut | HistoryOut;
