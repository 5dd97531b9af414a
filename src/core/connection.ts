import type { WebSocket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Format } from '../protocol/frames.js';
import type { ConnectResult } from '../engine/presence.js';
import type { Principal } from './auth.js';
import { TokenBucket } from './token-bucket.js';

/**
 * The state of one WebSocket connection, held as the uWS UserData of its socket.
 * It exists from the upgrade (before open) until close; `socket` is set on open and
 * cleared on close, after which nothing may be sent.
 */
export interface Connection {
  readonly id: string;
  readonly principal: Principal;
  readonly format: Format;
  readonly ip: string;
  readonly openedAt: number;
  readonly log: Logger;
  /** Groups this connection joined (logical names, without topic prefix). */
  readonly groups: Set<string>;
  /** Users this connection watches for presence changes. */
  readonly watching: Set<string>;
  /** Per-connection message rate. */
  readonly rate: TokenBucket;
  /** Drains on every rate-limited frame: empty means sustained abuse (close 1008). */
  readonly abuse: TokenBucket;
  /** Drains on every malformed frame: empty means a client that keeps sending garbage (close 1008). */
  readonly garbage: TokenBucket;
  socket: WebSocket<Connection> | undefined;
  /** The presence store's answer at the upgrade; undefined when the store was unreachable. */
  registration: ConnectResult | undefined;
  /**
   * Settles when the open-time work (presence registration, inbox replay) is done;
   * close-time work chains on it so a quick close never races ahead of its open.
   */
  ready: Promise<void>;
  /** Since when (ms) the send buffer has been over the soft limit; 0 when it is not. */
  slowSince: number;
}

export interface ConnectionSettings {
  messagesPerSecond: number;
  burst: number;
}

/** Malformed frames tolerated in a burst before the connection is closed, and their refill rate. */
export const GARBAGE_BURST = 10;
export const GARBAGE_PER_SECOND = 1;

export function createConnection(
  init: { id: string; principal: Principal; format: Format; ip: string; log: Logger },
  rate: ConnectionSettings,
  now: number,
): Connection {
  return {
    ...init,
    openedAt: now,
    groups: new Set(),
    watching: new Set(),
    rate: new TokenBucket(rate.messagesPerSecond, rate.burst, now),
    // Sustained abuse: rejections at the allowed rate on top of a burst twice the
    // bucket, so a client that overshoots once is told to slow down, not dropped.
    abuse: new TokenBucket(rate.messagesPerSecond, Math.max(2 * rate.burst, 20), now),
    garbage: new TokenBucket(GARBAGE_PER_SECOND, GARBAGE_BURST, now),
    socket: undefined,
    registration: undefined,
    ready: Promise.resolve(),
    slowSince: 0,
  };
}
