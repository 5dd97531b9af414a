import type { SwitchboardError } from './errors.js';

/** The part of the WebSocket API the SDK uses: the browser's global and Node's `ws` both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type Format = 'json' | 'msgpack';
export type SettableStatus = 'online' | 'away' | 'busy' | 'invisible';

export interface ConnectOptions {
  /** The gateway's WebSocket URL, e.g. `wss://chat.example.com/ws`. */
  url: string;
  /** A fixed token. Give `getToken` instead when tokens expire. */
  token?: string;
  /** Called at every (re)connect and before `exp` for a live refresh; its token replaces the last one. */
  getToken?: () => string | Promise<string>;
  /** Default 'json'. 'msgpack' sends and receives binary MessagePack frames. */
  format?: Format;
  /** The WebSocket constructor; default the global one (browsers, Node >= 22). In Node 20 pass `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Per-frame answer timeout once written (ms). Default 10000. */
  timeout?: number;
  /** Reconnect backoff with full jitter: first delay ceiling and largest delay (ms). Defaults 500 and 20000. */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** Default true. False: after any close the client stays disconnected. */
  reconnect?: boolean;
  /** Outbox bounds: frames waiting for an answer (default 1000) and how long one may wait (ms, default 60000). */
  outbox?: { maxCount?: number; maxAge?: number };
  /** Inbox acknowledgement batching: every N messages (default 50) or T ms (default 200). */
  ack?: { every?: number; interval?: number };
  /** Send an application-level `ping` after this many quiet ms (default 15000). */
  pingInterval?: number;
  /** No frame at all (not even a pong) for this many ms: the socket is dead, reconnect (default 35000). */
  livenessTimeout?: number;
  /**
   * Refresh the token on the live connection (`refresh` frame) this many ms before its
   * `exp` (default 60000, at most half its lifetime). 0: no live refresh; the gateway's
   * 4011 at `exp` then leads to a reconnect with a token from getToken.
   */
  refreshBefore?: number;
}

export interface MessageData {
  mid: string;
  from: string;
  to: string;
  content: unknown;
  timestamp: number;
  seq: number;
  epoch?: string;
  offline?: true;
}
export interface GroupData {
  mid: string;
  from: string;
  group: string;
  content: unknown;
  timestamp: number;
  offset?: number;
  epoch?: string;
  important?: true;
  recovered?: true;
}
export interface BroadcastData { mid: string; from: string; content: unknown; timestamp: number }
export interface StatusData { userId: string; status: string; timestamp: number }
export interface MemberData { group: string; userId: string; event: 'join' | 'leave'; timestamp: number }
export interface ReceiptData { mid: string; to: string; status: string; timestamp: number }

export interface ConnectedData {
  /** False on the first connection, true after a reconnect. */
  reconnected: boolean;
  /** The subprotocol the gateway echoed (the format in use). */
  protocol: string;
}
export interface DisconnectedData {
  code: number;
  reason: string;
  /** Whether the client will reconnect by itself. */
  willReconnect: boolean;
}
export interface ReconnectingData { attempt: number; delay: number }

/** Event name → what handlers receive (a frame's `data` for server frames). */
export interface ClientEvents {
  message: MessageData;
  group: GroupData;
  broadcast: BroadcastData;
  status: StatusData;
  member: MemberData;
  receipt: ReceiptData;
  /** `sync {dropped}`: inbox messages lost before they were acknowledged. */
  sync: { dropped?: number; count?: number };
  connected: ConnectedData;
  disconnected: DisconnectedData;
  reconnecting: ReconnectingData;
  error: SwitchboardError;
}

/** Answers (the `ack` frame's data) of the calls. */
export interface SendAck { mid: string; status: 'delivered' | 'stored'; seq: number; timestamp: number; duplicate?: true }
export interface PublishAck { mid: string; status: 'accepted'; timestamp: number; offset?: number; epoch?: string; duplicate?: true }
export interface JoinAck { status: 'ok'; group: string; offset?: number; epoch?: string; recovered?: boolean; count?: number }
export interface WatchAck { status: 'ok'; watching: number }
export type PresenceAnswer =
  | { users: Record<string, { status: string; lastSeen: number; connections?: number }> }
  | { group: string; online: string[]; count: number };
