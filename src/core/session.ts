import type { Logger } from 'pino';
import { CLOSE, GatewayError, toGatewayError } from '../errors.js';
import { CLIENT_FRAME_TYPES } from '../protocol/validate.js';
import { decodeFrame, errorFrame, type CodecLimits } from '../protocol/codec.js';
import type { ClientFrame, RefreshIn } from '../protocol/frames.js';
import type { HistogramSeries, Metrics, Series } from '../metrics/registry.js';
import type { Admission } from './admission.js';
import type { ClientSocket } from './client-socket.js';
import { READY, type Connection, type ConnectionSettings } from './connection.js';
import type { Hub } from './hub.js';
import type { IdGenerator } from './ids.js';
import type { IpGuard, UserRateLimiter } from './limits.js';
import type { Messaging } from './messaging.js';
import type { PresenceService } from './presence.js';
import type { OriginPolicy } from './origins.js';
import { Sweep } from './sweep.js';
import { TokenLifetime } from './token-lifetime.js';
import { Upgrades, type Admitted, type TokenVerifier, type UpgradeRequest } from './upgrade.js';

export type { Admitted, TokenVerifier, UpgradeRequest } from './upgrade.js';

/** Longest sweep tick (ms): a cycle over every connection is split into ticks of at most this. */
const SWEEP_TICK_MS = 50;

export interface SessionSettings {
  /** Limits.MaxBackpressure: the soft send-buffer limit a slow consumer is measured against. */
  maxBackpressure: number;
  /** How long (ms) the send buffer may stay over the soft limit before the client is closed with 4000. */
  writeTimeout: number;
  /** A connection quiet for this long (ms: no frame from it, no ping to it) is pinged. */
  heartbeatInterval: number;
  /** Per-connection frame rate. */
  rate: ConnectionSettings;
}

/** Carries out one decoded frame and answers it (ClientHandler). Never rejects. */
export interface FrameHandler {
  handle(conn: Connection, frame: ClientFrame): Promise<void>;
}

export interface SessionDeps {
  settings: SessionSettings;
  codecLimits: CodecLimits;
  hub: Hub;
  auth: TokenVerifier;
  admission: Admission;
  ipGuard: IpGuard;
  userRate: UserRateLimiter;
  frames: FrameHandler;
  presence: PresenceService;
  messaging: Messaging;
  metrics: Metrics;
  connIds: IdGenerator;
  log: Logger;
  /** Monotonic milliseconds; default performance.now. Tests inject their own. */
  now?: () => number;
  /** Http.AllowedOrigins; default: every origin. */
  origins?: OriginPolicy;
  /** Token expiry and refresh; default: connections never expire, `refresh` still replaces the token. */
  tokens?: TokenLifetime;
}

/**
 * The life of every connection of this node, from the HTTP upgrade to the close, over
 * the ClientSocket seam (no uWS here):
 *
 * 1. `admit` at the upgrade (carried out by Upgrades, src/core/upgrade.ts): the Origin is checked (Http.AllowedOrigins, before
 *    anything is taken), then format, per-IP slot and node slot are reserved
 *    synchronously (so concurrent upgrades cannot overshoot any cap), then the token is
 *    checked and the connection registered in presence (the per-user limit). Every
 *    failure releases everything taken and rejects with a GatewayError.
 * 2. The transport opens the socket (`opened`) or cannot (the client went away), and
 *    then calls `settleUpgrade` (Upgrades.settle) either way, which ends the upgrade-time reservations
 *    and undoes an upgrade that never opened.
 * 3. `opened`: the connection joins the hub; once its user topic is confirmed on the
 *    broker it is announced online and its inbox replayed (in that order).
 * 4. `frame`: decode, the malformed-frame and rate gates, then dispatch; a `refresh`
 *    is carried out here (it replaces the connection's token, see TokenLifetime).
 * 5. The sweep visits every connection about once per cycle: connections whose token
 *    expired are closed with 4011; slow consumers (over the soft buffer limit for
 *    WriteTimeout) with 4000; quiet ones are pinged.
 * 6. `closed`: everything the connection held is released; presence work chains on
 *    the open-time work so a quick close never overtakes it.
 */
export class Sessions {
  readonly #deps: SessionDeps;
  readonly #now: () => number;
  readonly #sweep: Sweep<Connection>;
  readonly #sweepEvery: number;
  readonly #tokens: TokenLifetime;
  readonly #upgrades: Upgrades;
  #timer: NodeJS.Timeout | undefined;
  /** Set by shutdown(): frames from now on are refused, new sockets closed at once. */
  #draining = false;
  /** Frames dispatched and not yet answered. */
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  /** Per-frame series, resolved once per frame type ('invalid': not decodable). */
  readonly #framesIn: Readonly<Record<string, Series>>;
  readonly #handleSeconds: Readonly<Record<string, HistogramSeries>>;
  readonly #bytesIn: Series;
  /** Close counts by close code, resolved on a code's first close. */
  readonly #closes = new Map<number, Series>();

  constructor(deps: SessionDeps) {
    this.#deps = deps;
    const frameTypes = [...CLIENT_FRAME_TYPES, 'invalid'];
    this.#framesIn = Object.fromEntries(frameTypes.map((type) => [type, deps.metrics.counter('frames_in_total', type)]));
    this.#handleSeconds = Object.fromEntries(frameTypes.map((type) => [type, deps.metrics.histogram('frame_handle_seconds', type)]));
    this.#bytesIn = deps.metrics.counterSeries('bytes_in_total');
    this.#now = deps.now ?? (() => performance.now());
    this.#tokens = deps.tokens ?? new TokenLifetime({ expireConnections: false, clockTolerance: 0 }, deps.auth);
    this.#upgrades = new Upgrades({ ...deps, rate: deps.settings.rate, now: this.#now, tokens: this.#tokens });
    const { writeTimeout, heartbeatInterval } = deps.settings;
    // A cycle short enough to notice a slow consumer within a quarter of WriteTimeout
    // and to ping within half a HeartbeatInterval, but no busier than 10 cycles a second.
    const cycle = Math.min(1000, Math.max(100, Math.min(writeTimeout / 4, heartbeatInterval / 2)));
    this.#sweepEvery = Math.min(SWEEP_TICK_MS, cycle);
    const hub = deps.hub;
    this.#sweep = new Sweep<Connection>(
      { values: () => hub.connections(), get size() { return hub.size; } },
      (conn, now) => this.visit(conn, now),
      { ticksPerCycle: cycle / this.#sweepEvery, endOfCycle: (now) => deps.ipGuard.sweep(now) },
    );
  }

  /**
   * Step 1: admits an upgrade request (see Upgrades.admit). The caps are reserved
   * before this returns its promise, so call it synchronously in the upgrade handler.
   */
  admit(req: UpgradeRequest, aborted: () => boolean): Promise<Admitted> {
    return this.#upgrades.admit(req, aborted);
  }

  /** The socket of some open connection (any one), or undefined when none is open. */
  anySocket(): ClientSocket | undefined {
    for (const conn of this.#deps.hub.connections()) if (conn.socket !== undefined) return conn.socket;
    return undefined;
  }

  /** Step 2: once after trying to open an admitted connection's socket, opened or not (see Upgrades.settle). */
  settleUpgrade(conn: Connection): void {
    this.#upgrades.settle(conn);
  }

  /** Step 3: the socket of an admitted connection is open. */
  opened(conn: Connection, socket: ClientSocket): void {
    const { hub, metrics, presence, messaging, userRate } = this.#deps;
    conn.socket = socket;
    conn.phase = 'open';
    if (this.#draining) {
      // An upgrade that was admitted before the shutdown began: the socket opens and closes at once.
      socket.end(CLOSE.RESTART, 'server restart');
      return;
    }
    const now = this.#now();
    conn.lastActive = now;
    const confirmed = hub.add(conn);
    userRate.opened(conn.principal.userId, now);
    metrics.inc('connections_opened_total');
    metrics.set('connections_current', hub.size);
    // The module logger with the connection's id: the same line a child logger would
    // write, without keeping a child per quiet connection.
    // Debug, not info: at thousands of connections a second these would be the whole log
    // (the monitor's interval lines summarize them at info).
    this.#deps.log.debug({ connId: conn.id, userId: conn.principal.userId, format: conn.format, ip: conn.ip }, 'open');
    const registration = conn.registration;
    conn.registration = undefined; // needed only until open; not kept per connection
    // The replay takes its place in the user's delivery queue now, synchronously: a live
    // message for the user sent from here on waits behind it, so it cannot overtake the
    // stored ones (the user topic was confirmed at the upgrade; see admit).
    const replayed = messaging.replay(conn, 0).then(
      () => undefined,
      (err: unknown) => conn.log.error({ err }, 'inbox replay failed'),
    );
    // Once settled, the connection holds the shared settled promise again instead of
    // this one (about 100 bytes per connection with its reaction records).
    conn.ready = (async () => {
      try {
        try {
          await confirmed;
        } catch (err) {
          // Without its subscriptions the connection would miss messages: refuse it.
          conn.socket?.end(toGatewayError(err).closeCode, 'could not subscribe; reconnect later');
          await replayed;
          return;
        }
        await presence.connected(conn, registration);
        await replayed;
      } catch (err) {
        conn.log.error({ err }, 'open-time work failed');
      } finally {
        conn.ready = READY;
      }
    })();
  }

  /**
   * Step 4: one frame from the client. Synchronous: decoding copies what it keeps, so
   * the caller's buffer may be reused as soon as this returns.
   */
  frame(conn: Connection, bytes: Uint8Array, binary: boolean): void {
    const { hub, userRate } = this.#deps;
    this.#bytesIn.value += bytes.length;
    const now = this.#now();
    conn.lastActive = now;
    const decoded = decodeFrame(bytes, binary, this.#deps.codecLimits);
    if (this.#draining) {
      // Shutting down: nothing new is started. The frame gets an answer all the same,
      // so its sender knows to resend it (same id) once reconnected.
      hub.send(conn, errorFrame(new GatewayError('UNAVAILABLE', 'server shutting down; resend with the same id after reconnecting'), decoded.ok ? decoded.frame.id : decoded.id));
      return;
    }
    // Refusals (error frames) are counted by code where every error frame leaves: Hub.send.
    if (!decoded.ok) {
      this.#framesIn['invalid']!.value += 1;
      const decodedAt = this.#now();
      hub.send(conn, errorFrame(decoded.error, decoded.id));
      this.#handleSeconds['invalid']!.observe((this.#now() - decodedAt) / 1000);
      if (conn.garbage.take(now) > 0) conn.socket?.end(CLOSE.POLICY, 'too many malformed frames');
      return;
    }
    const type = decoded.frame.type;
    this.#framesIn[type]!.value += 1;
    const handled = this.#handleSeconds[type]!;
    const decodedAt = this.#now();
    const wait = Math.max(conn.rate.take(now), userRate.take(conn.principal.userId, now));
    if (wait > 0) {
      hub.send(conn, errorFrame(new GatewayError('RATE_LIMITED', undefined, { retryAfterMs: wait }), decoded.frame.id));
      handled.observe((this.#now() - decodedAt) / 1000);
      if (conn.abuse.take(now) > 0) conn.socket?.end(CLOSE.POLICY, 'sustained rate limit abuse');
      return;
    }
    // The handler settles once its reply or fan-out is handed to the socket(s).
    this.#dispatch(conn, decoded.frame, handled, decodedAt);
  }

  #dispatch(conn: Connection, frame: ClientFrame, handled: HistogramSeries, decodedAt: number): void {
    this.#inflight += 1;
    // A refresh is the session's own business (the connection's token); every other frame is the handler's.
    const work = frame.type === 'refresh' ? this.#refresh(conn, frame) : this.#deps.frames.handle(conn, frame);
    void work.finally(() => {
      handled.observe((this.#now() - decodedAt) / 1000);
      this.#inflight -= 1;
      if (this.#inflight === 0 && this.#idleWaiters.length > 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  }

  /** A `refresh` frame: the new token replaces the connection's, or nothing changes and the client hears why. */
  async #refresh(conn: Connection, frame: RefreshIn): Promise<void> {
    const { hub, metrics } = this.#deps;
    try {
      const principal = await this.#tokens.refresh(conn, frame.data.token, this.#now);
      metrics.inc('token_refreshes_total');
      const data = principal.expiresAt === undefined
        ? { status: 'ok' as const, timestamp: Date.now() }
        : { status: 'ok' as const, exp: Math.floor(principal.expiresAt / 1000), timestamp: Date.now() };
      hub.send(conn, frame.id === undefined ? { type: 'ack', data } : { type: 'ack', id: frame.id, data });
    } catch (err) {
      hub.send(conn, errorFrame(toGatewayError(err), frame.id));
    }
  }

  /** The socket's send buffer drained somewhat: a consumer back under the soft limit is no longer slow. */
  drained(conn: Connection): void {
    const socket = conn.socket;
    if (socket === undefined) return;
    if (socket.bufferedAmount() <= this.#deps.settings.maxBackpressure) conn.slowSince = -1;
    this.#deps.hub.drained(conn);
  }

  /** Step 6: the socket closed (either side, any reason). */
  closed(conn: Connection, code: number): void {
    const { hub, ipGuard, userRate, metrics, presence } = this.#deps;
    conn.socket = undefined;
    conn.phase = 'closed';
    const remaining = hub.remove(conn);
    ipGuard.release(conn.ip);
    if (remaining === 0) userRate.release(conn.principal.userId);
    let closes = this.#closes.get(code);
    if (closes === undefined) {
      closes = metrics.counter('connections_closed_total', String(code));
      this.#closes.set(code, closes);
    }
    closes.value += 1;
    metrics.set('connections_current', hub.size);
    this.#deps.log.debug({ connId: conn.id, userId: conn.principal.userId, code }, 'close');
    void conn.ready
      .then(() => presence.disconnected(conn))
      .catch((err: unknown) => conn.log.error({ err }, 'close-time work failed'));
  }

  /** Step 5 for one connection: the slow-consumer policy and the heartbeat. */
  visit(conn: Connection, now: number): void {
    const socket = conn.socket;
    if (socket === undefined) return;
    const { settings, metrics } = this.#deps;
    if (this.#tokens.expired(conn, now)) {
      metrics.inc('connections_expired_total');
      socket.end(CLOSE.TOKEN_EXPIRED, 'token expired: reconnect with a fresh token');
      return;
    }
    const buffered = socket.bufferedAmount();
    if (buffered <= settings.maxBackpressure) {
      conn.slowSince = -1;
    } else if (conn.slowSince < 0) {
      conn.slowSince = now;
    } else if (now - conn.slowSince >= settings.writeTimeout) {
      metrics.inc('slow_consumers_closed_total');
      conn.log.warn({ buffered }, 'closing slow consumer');
      socket.end(CLOSE.SLOW_CONSUMER, 'slow consumer');
      return;
    }
    if (now - conn.lastActive >= settings.heartbeatInterval) {
      conn.lastActive = now;
      socket.ping();
    }
  }

  /**
   * Graceful shutdown, in order: (1) stop taking work: every frame from now on is
   * answered UNAVAILABLE and a socket that still opens is closed at once; (2) wait until
   * every frame already accepted has been carried out and answered; (3) close every
   * connection with `code`, each once its send buffer has drained, so the answers and
   * the close frame reach the client instead of being cut off. Bounded by `deadline`
   * (Date.now() ms): connections still busy then are closed regardless.
   */
  async shutdown(code: number, reason: string, deadline: number): Promise<void> {
    this.#draining = true;
    // One turn of the event loop first: frames already in the sockets' receive buffers
    // are read (and refused) now, not cut off by the close below.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await withDeadline(this.#inflight === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.#idleWaiters.push(resolve)), deadline);
    const hub = this.#deps.hub;
    await Promise.all([...hub.connections()].map(async (conn) => {
      await withDeadline(hub.whenWritable(conn, 0), deadline);
      conn.socket?.end(code, reason);
    }));
  }

  /** One sweep tick (the timer calls it; tests call it with their clock). */
  tick(now: number = this.#now()): void {
    this.#sweep.tick(now);
  }

  /** Starts the sweep timer. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.tick(), this.#sweepEvery);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Resolves when `work` settles or at `deadline` (Date.now() ms), whichever comes first. */
export async function withDeadline(work: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
  clearTimeout(timer);
}
