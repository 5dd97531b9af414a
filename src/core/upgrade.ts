import type { Logger } from 'pino';
import { GatewayError, toGatewayError } from '../errors.js';
import { negotiateFormat } from '../protocol/negotiate.js';
import type { Metrics } from '../metrics/registry.js';
import type { Admission } from './admission.js';
import type { Principal } from './auth.js';
import { createConnection, type Connection, type ConnectionSettings } from './connection.js';
import type { Hub } from './hub.js';
import type { IdGenerator } from './ids.js';
import type { IpGuard } from './limits.js';
import type { OriginPolicy } from './origins.js';
import type { PresenceService } from './presence.js';
import type { TokenLifetime } from './token-lifetime.js';
import { topics } from './topics.js';

/** What the upgrade needs of the authenticator. */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** What the transport read from an upgrade request. */
export interface UpgradeRequest {
  ip: string;
  /** The bearer token, or '' when none was sent. */
  token: string;
  /** Sec-WebSocket-Protocol, or ''. */
  protocolHeader: string;
  /** The `format` query parameter, or ''. */
  formatQuery: string;
  /** The `Origin` header, or '' (not a browser). */
  origin?: string;
}

export interface Admitted {
  conn: Connection;
  /** The subprotocol to echo in the upgrade response ('' for none). */
  protocol: string;
}

export interface UpgradeDeps {
  hub: Hub;
  auth: TokenVerifier;
  admission: Admission;
  ipGuard: IpGuard;
  presence: PresenceService;
  metrics: Metrics;
  connIds: IdGenerator;
  log: Logger;
  /** Per-connection frame rate, handed to every connection (shared, not copied). */
  rate: ConnectionSettings;
  /** Monotonic milliseconds. */
  now: () => number;
  tokens: TokenLifetime;
  /** Http.AllowedOrigins; undefined: every origin. */
  origins?: OriginPolicy | undefined;
}

function abortedUpgrade(): GatewayError {
  return new GatewayError('BAD_REQUEST', 'upgrade aborted by the client');
}

/**
 * The first two steps of a connection's life (see Sessions): admission at the HTTP
 * upgrade and its settlement once the transport tried to open the socket.
 *
 * `admit`: the Origin is checked (Http.AllowedOrigins, before anything is taken), then
 * format, per-IP slot and node slot are reserved synchronously (so concurrent upgrades
 * cannot overshoot any cap), then the token is checked and the connection registered
 * in presence (the per-user limit), and its user topic held on the broker. Every
 * failure releases everything taken, is counted by code and rejects with a GatewayError.
 *
 * `settle`: ends the upgrade-time reservations, and undoes an upgrade that never opened.
 */
export class Upgrades {
  readonly #deps: UpgradeDeps;

  constructor(deps: UpgradeDeps) {
    this.#deps = deps;
  }

  /**
   * The caps are checked and reserved before this returns its promise, so call it
   * synchronously in the upgrade handler. `aborted` tells whether the client went away meanwhile.
   */
  async admit(req: UpgradeRequest, aborted: () => boolean): Promise<Admitted> {
    const { admission, ipGuard } = this.#deps;
    let negotiated: { format: Connection['format']; protocol: string };
    try {
      // Before anything is reserved: a page from a foreign site costs no slot.
      if (req.origin !== undefined && this.#deps.origins !== undefined && !this.#deps.origins.allows(req.origin)) {
        throw new GatewayError('FORBIDDEN', 'origin not allowed (Http.AllowedOrigins)');
      }
      negotiated = negotiateFormat(req.protocolHeader, req.formatQuery);
      ipGuard.admit(req.ip, this.#deps.now());
      try {
        admission.reserveNode();
      } catch (err) {
        ipGuard.release(req.ip);
        throw err;
      }
    } catch (err) {
      throw this.#refused(toGatewayError(err));
    }

    let userId: string | undefined;
    let localReservation = false;
    let hold: (() => void) | undefined;
    let registeredId: string | undefined;
    try {
      const principal = await this.#deps.auth.verify(req.token);
      if (aborted()) throw abortedUpgrade();
      userId = principal.userId;
      const id = this.#deps.connIds.next();
      // The per-user limit is applied by the presence store, atomically and (with a
      // shared store) cluster-wide; local counting is the fallback while it is down.
      const registration = await this.#deps.presence.register(id, userId);
      if (registration === undefined) {
        admission.reserveUser(userId);
        localReservation = true;
      } else {
        registeredId = id;
      }
      if (aborted()) throw abortedUpgrade();
      // The user topic is subscribed on the broker before the socket opens, so a message
      // sent to the user from any node as soon as the client sees "open" reaches it live.
      hold = await this.#deps.hub.retain(topics.user(userId));
      if (aborted()) throw abortedUpgrade();
      const now = this.#deps.now();
      const expiresAt = this.#deps.tokens.deadline(principal, now);
      const conn = createConnection({ id, principal, format: negotiated.format, ip: req.ip, log: this.#deps.log, expiresAt }, this.#deps.rate, now);
      conn.registration = registration;
      conn.localReservation = localReservation;
      conn.topicHold = hold;
      return { conn, protocol: negotiated.protocol };
    } catch (err) {
      hold?.();
      if (registeredId !== undefined && userId !== undefined) this.#unregister(registeredId, userId);
      admission.release(localReservation ? userId : undefined);
      ipGuard.release(req.ip);
      throw this.#refused(toGatewayError(err));
    }
  }

  /**
   * Call once after trying to open the socket of an admitted connection, whether it
   * opened or not (the client may have gone away first).
   */
  settle(conn: Connection): void {
    const { admission, ipGuard } = this.#deps;
    // From here on the hub counts the connection (if it opened): the reservations end.
    admission.release(conn.localReservation ? conn.principal.userId : undefined);
    conn.localReservation = false;
    // Opened: the connection's own subscription holds the user topic now.
    conn.topicHold?.();
    conn.topicHold = undefined;
    if (conn.phase !== 'admitted') return;
    // It never opened: undo the rest of the admission.
    conn.phase = 'closed';
    ipGuard.release(conn.ip);
    // The client went away between admission and open.
    this.#refused(abortedUpgrade());
    const registration = conn.registration;
    conn.registration = undefined;
    if (registration !== undefined) this.#unregister(conn.id, conn.principal.userId);
  }

  /** Counts a refused upgrade by its code; returns the error to throw. */
  #refused(err: GatewayError): GatewayError {
    const { metrics } = this.#deps;
    metrics.counter('upgrades_rejected_total', err.code).inc();
    if (err.code === 'RATE_LIMITED') metrics.counter('rate_limited_total', 'upgrade').inc();
    return err;
  }

  #unregister(connId: string, userId: string): void {
    this.#deps.presence.unregister(connId, userId).catch((err: unknown) => this.#deps.log.error({ err, userId }, 'could not undo a registration'));
  }
}
