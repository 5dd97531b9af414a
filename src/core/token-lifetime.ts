import { GatewayError } from '../errors.js';
import type { Principal } from './auth.js';
import type { Connection } from './connection.js';

/** What the token lifetime needs of the auth slice of the config. */
export interface TokenLifetimeSettings {
  /** Auth.ExpireConnections: close connections whose token expired. */
  expireConnections: boolean;
  /** Auth.ClockTolerance (ms): the grace after `exp`, the same skew the upgrade allows. */
  clockTolerance: number;
}

/** What the lifetime needs of the authenticator. */
export interface RefreshVerifier {
  verify(token: string): Promise<Principal>;
}

/**
 * A token's life on a live connection. A connection keeps one number, `expiresAt`: the
 * moment (on the session's monotonic clock) its token's `exp` plus ClockTolerance
 * passes, or Infinity when the token has no `exp` or Auth.ExpireConnections is off.
 * The session's sweep compares it on every visit (about once a second), so no timer
 * exists per connection; the close (4011) comes at most one sweep cycle late.
 *
 * A client keeps its connection past `exp` by sending `refresh` with a fresh token
 * for the same `sub`: the new token's groups and perms apply from then on (groups
 * already joined stay joined), and its `exp` becomes the deadline.
 */
export class TokenLifetime {
  constructor(
    private readonly settings: TokenLifetimeSettings,
    private readonly verifier: RefreshVerifier,
    /** Wall-clock milliseconds (token `exp` is wall-clock). Tests inject their own. */
    private readonly wallClock: () => number = Date.now,
  ) {}

  /** The monotonic deadline for `principal`, given the monotonic `now`. */
  deadline(principal: Principal, now: number): number {
    const exp = principal.expiresAt;
    if (!this.settings.expireConnections || exp === undefined) return Infinity;
    return now + (exp + this.settings.clockTolerance - this.wallClock());
  }

  /** Whether the connection's token has expired at monotonic `now`. */
  expired(conn: Connection, now: number): boolean {
    return now >= conn.expiresAt;
  }

  /**
   * Verifies `token` and, when it names the connection's user, makes it the
   * connection's token. Nothing changes on failure.
   * @throws GatewayError UNAUTHORIZED (invalid, expired, wrongly signed token) or
   * FORBIDDEN (a valid token for another user).
   */
  async refresh(conn: Connection, token: string, now: () => number): Promise<Principal> {
    const principal = await this.verifier.verify(token);
    if (principal.userId !== conn.principal.userId) {
      throw new GatewayError('FORBIDDEN', 'refresh token is for another user; reconnect to change user');
    }
    conn.principal = principal;
    conn.expiresAt = this.deadline(principal, now());
    return principal;
  }
}
