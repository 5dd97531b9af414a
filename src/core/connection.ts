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

/** What every connection of a node shares: its rate settings and the parent logger. */
interface SharedContext {
  readonly rate: ConnectionSettings;
  readonly log: Logger;
}

/** What a connection creates on first use; most idle connections never need any of it. */
interface LazyParts {
  groups?: Set<string>;
  watching?: Set<string>;
  rate?: TokenBucket;
  abuse?: TokenBucket;
  garbage?: TokenBucket;
  log?: Logger;
}

/** What only the upgrade needs, dropped once it is settled and the socket open. */
interface UpgradeParts {
  registration: ConnectResult | undefined;
  localReservation: boolean;
  topicHold: (() => void) | undefined;
}

/**
 * The one implementation of Connection. Kept small on purpose: a node holds tens of
 * thousands, so what a quiet connection does not use (its buckets, sets and child
 * logger) lives in one object made on first use, what only the upgrade needs in one
 * dropped after it, and what all connections share in one object they all point to.
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
  socket: ClientSocket | undefined = undefined;
  ready: Promise<void> = READY;
  slowSince = -1;
  #lastActive: number;
  readonly #shared: SharedContext;
  #lazy: LazyParts | undefined = undefined;
  #upgrade: UpgradeParts | undefined = undefined;

  constructor(init: ConnectionInit, shared: SharedContext, now: number) {
    this.id = init.id;
    this.principal = init.principal;
    this.expiresAt = init.expiresAt ?? Infinity;
    this.format = init.format;
    this.ip = init.ip;
    // Whole milliseconds: V8 keeps small integers in the object itself, where a
    // fraction costs a separate 16-byte number per field and connection.
    this.openedAt = Math.floor(now);
    this.#lastActive = this.openedAt;
    this.#shared = shared;
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

  get #parts(): LazyParts {
    return (this.#lazy ??= {});
  }

  // The buckets appear on the first frame that needs one: an idle connection holds none.
  // A bucket created late behaves as one created at open: both start full at openedAt,
  // and a full bucket cannot fill further while it waits.
  get rate(): TokenBucket {
    const { messagesPerSecond, burst } = this.#shared.rate;
    return (this.#parts.rate ??= new TokenBucket(messagesPerSecond, burst, this.openedAt));
  }

  get abuse(): TokenBucket {
    // Sustained abuse: rejections at the allowed rate on top of a burst twice the
    // bucket, so a client that overshoots once is told to slow down, not dropped.
    const { messagesPerSecond, burst } = this.#shared.rate;
    return (this.#parts.abuse ??= new TokenBucket(messagesPerSecond, Math.max(2 * burst, 20), this.openedAt));
  }

  get garbage(): TokenBucket {
    return (this.#parts.garbage ??= new TokenBucket(GARBAGE_PER_SECOND, GARBAGE_BURST, this.openedAt));
  }

  // Most connections never join a group or watch anyone: the sets appear on first use.
  get groups(): Set<string> {
    return (this.#parts.groups ??= new Set());
  }

  get watching(): Set<string> {
    return (this.#parts.watching ??= new Set());
  }

  get log(): Logger {
    return (this.#parts.log ??= this.#shared.log.child({ connId: this.id }));
  }

  get registration(): ConnectResult | undefined {
    return this.#upgrade?.registration;
  }

  set registration(value: ConnectResult | undefined) {
    this.#setUpgradePart('registration', value);
  }

  get localReservation(): boolean {
    return this.#upgrade?.localReservation ?? false;
  }

  set localReservation(value: boolean) {
    this.#setUpgradePart('localReservation', value);
  }

  get topicHold(): (() => void) | undefined {
    return this.#upgrade?.topicHold;
  }

  set topicHold(value: (() => void) | undefined) {
    this.#setUpgradePart('topicHold', value);
  }

  /** Sets one upgrade part; the object holding them goes once all three are cleared. */
  #setUpgradePart<K extends keyof UpgradeParts>(key: K, value: UpgradeParts[K]): void {
    const parts = (this.#upgrade ??= { registration: undefined, localReservation: false, topicHold: undefined });
    parts[key] = value;
    if (parts.registration === undefined && !parts.localReservation && parts.topicHold === undefined) this.#upgrade = undefined;
  }
}

/** The settled `ready` every connection holds before its open-time work starts and after it is done. */
export const READY: Promise<void> = Promise.resolve();

/** One shared context per (settings, logger) pair: connections point to it instead of holding both. */
const contexts = new WeakMap<ConnectionSettings, WeakMap<Logger, SharedContext>>();

function sharedContext(rate: ConnectionSettings, log: Logger): SharedContext {
  let byLog = contexts.get(rate);
  if (byLog === undefined) {
    byLog = new WeakMap();
    contexts.set(rate, byLog);
  }
  let context = byLog.get(log);
  if (context === undefined) {
    context = { rate, log };
    byLog.set(log, context);
  }
  return context;
}

/**
 * `log` is the parent (module) logger; the connection's child logger `{ connId }` is
 * derived from it on first use. `now` is the session's monotonic clock (ms).
 */
export function createConnection(
  init: ConnectionInit,
  rate: ConnectionSettings,
  now: number,
): Connection {
  return new ConnectionState(init, sharedContext(rate, init.log), now);
}
