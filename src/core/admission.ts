import { CLOSE, GatewayError } from '../errors.js';
import type { Hub } from './hub.js';

export interface AdmissionSettings {
  maxConn: number;
  maxConnPerUser: number;
  perUserPolicy: 'reject' | 'evict-oldest';
}

/**
 * Connection-count limits at the upgrade, counting upgrades still in flight (token
 * verification is async) so that concurrent upgrades cannot overshoot: exactly
 * `maxConn` connections per node and `maxConnPerUser` per user are admitted.
 *
 * Usage: `reserveNode()` before the async part, and `release(userId?)` when the
 * upgrade ends (opened or aborted); after an open, the hub's counts take over from
 * the reservation. The per-user limit is normally applied by the presence store
 * (atomically, cluster-wide); `reserveUser()` is the local fallback used only while
 * that store is unreachable.
 */
export class Admission {
  #pending = 0;
  readonly #pendingByUser = new Map<string, number>();

  constructor(private readonly hub: Hub, private readonly settings: AdmissionSettings) {}

  /** Upgrades admitted and not yet settled (opened or given up). */
  get pending(): number {
    return this.#pending;
  }

  /** True when the node is at MaxConn (open plus in-flight upgrades): the next upgrade would be refused. */
  get full(): boolean {
    return this.hub.size + this.#pending >= this.settings.maxConn;
  }

  /** Throws SERVER_FULL when the node is at MaxConn. */
  reserveNode(): void {
    if (this.hub.size + this.#pending >= this.settings.maxConn) throw new GatewayError('SERVER_FULL');
    this.#pending += 1;
  }

  /**
   * Applies the per-user limit. With `reject`, throws TOO_MANY_CONNECTIONS at the
   * limit; with `evict-oldest`, closes the user's oldest connections (code 4008) to
   * make room. Synchronous, so the count and the reservation cannot interleave.
   */
  reserveUser(userId: string): void {
    const pending = this.#pendingByUser.get(userId) ?? 0;
    const open = this.hub.userConnections(userId);
    let excess = open.length + pending + 1 - this.settings.maxConnPerUser;
    if (excess > 0) {
      if (this.settings.perUserPolicy === 'reject') {
        throw new GatewayError('TOO_MANY_CONNECTIONS', `user already has ${this.settings.maxConnPerUser} connections`);
      }
      for (const oldest of open) {
        if (excess <= 0) break;
        oldest.socket?.end(CLOSE.EVICTED, 'replaced by a newer connection');
        excess -= 1;
      }
      if (excess > 0) throw new GatewayError('TOO_MANY_CONNECTIONS', `user already has ${this.settings.maxConnPerUser} connections being opened`);
    }
    this.#pendingByUser.set(userId, pending + 1);
  }

  /** Ends a reservation (the upgrade opened, failed or was aborted). */
  release(userId?: string): void {
    this.#pending -= 1;
    if (userId === undefined) return;
    const n = (this.#pendingByUser.get(userId) ?? 0) - 1;
    if (n > 0) this.#pendingByUser.set(userId, n);
    else this.#pendingByUser.delete(userId);
  }
}
