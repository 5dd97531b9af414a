import type { Logger } from 'pino';
import type { Format } from '../protocol/frames.js';
import type { ConnectResult } from '../engine/presence.js';
import type { Principal } from './auth.js';
import type { ClientSocket } from './client-socket.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Where a connection is in its life (see Sessions): `admitted` at the upgrade, before
 * its socket exists; `open` while the socket is; `closed` once it closed or the
 * upgrade was abandoned, after which nothing may be sent.
 */
export type Phase = 'admitted' | 'open' | 'closed';

/**
 * The state of one WebSocket connection. It exists from the upgrade (before open)
 * until close; `socket` is set on open and cleared on close, after which nothing may
 * be sent.
 */
export interface Connection {
  readonly id: string;
  /** Who the connection acts for; replaced as a whole by a `refresh` frame (same user, new groups/perms/exp). */
  principal: Principal;
  /**
   * When (monotonic ms, the session's clock) the token expires, ClockTolerance included:
   * the sweep closes the connection with 4011 from then on. Infinity: never.
   */
  expiresAt: number;
  readonly format: Format;
  readonly ip: string;
  readonly openedAt: number;
  readonly log: Logger;
  phase: Phase;
  /** Groups this connection joined (logical names, without topic prefix). */
  readonly groups: Set<string>;
  /** Users this connection watches for presence changes. */
  readonly watching: Set<string>;
  /** Per-connection message rate. Created on first use, full as of `openedAt` (the same bucket it would be if created at open). */
  readonly rate: TokenBucket;
  /** Drains on every rate-limited frame: empty means sustained abuse (close 1008). */
  readonly abuse: TokenBucket;
  /** Drains on every malformed frame: empty means a client that keeps sending garbage (close 1008). */
  readonly garbage: TokenBucket;
  socket: ClientSocket | undefined;
  /** The presence store's answer at the upgrade, handed to open; undefined after open or when the store was unreachable. */
  registration: ConnectResult | undefined;
  /** Set when the per-user limit was applied locally (presence store unreachable): the reservation to release. */
  localReservation: boolean;
  /** Holds the user topic's broker subscription from the upgrade until the socket's own subscription takes over. */
  topicHold: (() => void) | undefined;
  /**
   * Settles when the open-time work (user topic confirmed, presence, inbox replay) is
   * done; close-time work chains on it so a quick close never races ahead of its open.
   */
  ready: Promise<void>;
  /** Since when (monotonic ms) the send buffer has been over the soft limit; -1 when it is not. */
  slowSince: number;
  /** When (monotonic ms) the connection last sent a frame or was pinged: the heartbeat pings it after HeartbeatInterval of quiet. */
  lastActive: number;
}

/** What a connection starts with. `expiresAt` (monotonic ms) defaults to Infinity (never expires). */
export interface ConnectionInit {
  id: string;
  principal: Principal;
  format: Format;
  ip: string;
  log: Logger;
  expiresAt?: number;
}

export interface ConnectionSettings {
  messagesPerSecond: number;
  burst: number;
}

/** Malformed frames tolerated in a burst before the connection is closed, and their refill rate. */
export const GARBAGE_BURST = 10;
export const GARBAGE_PER_SECOND = 1;

/**
 * The one implementation of Connection. Kept small on purpose: a node holds tens of
 * thousands, so the per-connection logger is created on first use (most connections
 * never log) and nothing else is allocated that a quiet connection does not need.
 */
class ConnectionState implements Connection {
  readonly id: string;
  principal: Principal;
  /** The deadline in whole ms; undefined: never (no double is boxed per connection for Infinity). */
  #expiresAt: number | undefined;
  readonly format: Format;
  readonly ip: string;
  readonly openedAt: number;
  phase: Phase = 'admitted';
  #groups: Set<string> | undefined;
  #watching: Set<string> | undefined;
  /** Shared by every connection of the node (the session's settings), not copied. */
  readonly #rateSettings: ConnectionSettings;
  #rate: TokenBucket | undefined;
  #abuse: TokenBucket | undefined;
  #garbage: TokenBucket | undefined;
  socket: ClientSocket | undefined = undefined;
  registration: ConnectResult | undefined = undefined;
  localReservation = false;
  topicHold: (() => void) | undefined = undefined;
  ready: Promise<void> = READY;
  slowSince = -1;
  #lastActive: number;
  #parentLog: Logger;
  #log: Logger | undefined;

  constructor(init: ConnectionInit, rate: ConnectionSettings, now: number) {
    this.id = init.id;
    this.principal = init.principal;
    this.expiresAt = init.expiresAt ?? Infinity;
    this.format = init.format;
    this.ip = init.ip;
    // Whole milliseconds: V8 keeps small integers in the object itself, where a
    // fraction costs a separate 16-byte number per field and connection.
    this.openedAt = Math.floor(now);
    this.#lastActive = this.openedAt;
    this.#parentLog = init.log;
    this.#rateSettings = rate;
  }

  get expiresAt(): number {
    return this.#expiresAt ?? Infinity;
  }

  /** Rounded up: a deadline a fraction of a millisecond late, never early. */
  set expiresAt(at: number) {
    this.#expiresAt = at === Infinity ? undefined : Math.ceil(at);
  }

  get lastActive(): number {
    return this.#lastActive;
  }

  set lastActive(at: number) {
    this.#lastActive = Math.floor(at);
  }

  // The buckets appear on the first frame that needs one: an idle connection holds none.
  // A bucket created late behaves as one created at open: both start full at openedAt,
  // and a full bucket cannot fill further while it waits.
  get rate(): TokenBucket {
    return (this.#rate ??= new TokenBucket(this.#rateSettings.messagesPerSecond, this.#rateSettings.burst, this.openedAt));
  }

  get abuse(): TokenBucket {
    // Sustained abuse: rejections at the allowed rate on top of a burst twice the
    // bucket, so a client that overshoots once is told to slow down, not dropped.
    return (this.#abuse ??= new TokenBucket(this.#rateSettings.messagesPerSecond, Math.max(2 * this.#rateSettings.burst, 20), this.openedAt));
  }

  get garbage(): TokenBucket {
    return (this.#garbage ??= new TokenBucket(GARBAGE_PER_SECOND, GARBAGE_BURST, this.openedAt));
  }

  // Most connections never join a group or watch anyone: the sets appear on first use.
  get groups(): Set<string> {
    return (this.#groups ??= new Set());
  }

  get watching(): Set<string> {
    return (this.#watching ??= new Set());
  }

  get log(): Logger {
    return (this.#log ??= this.#parentLog.child({ connId: this.id }));
  }
}

/** The settled `ready` every connection holds before its open-time work starts and after it is done. */
export const READY: Promise<void> = Promise.resolve();

/**
 * `log` is the parent (module) logger; the connection's child logger `{ connId }` is
 * derived from it on first use. `now` is the session's monotonic clock (ms).
 */
export function createConnection(
  init: ConnectionInit,
  rate: ConnectionSettings,
  now: number,
): Connection {
  return new ConnectionState(init, rate, now);
}
