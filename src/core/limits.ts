import { GatewayError } from '../errors.js';
import { TokenBucket } from './token-bucket.js';

export interface RateSettings {
  messagesPerSecond: number;
  burst: number;
}

/**
 * Per-user message rate limit, shared by all of a user's connections on this node
 * (each connection also has its own bucket, see Connection). Buckets of users with
 * no connection left are forgotten by `release`.
 */
export class UserRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(readonly settings: RateSettings) {}

  /** 0 when the user may send now, else milliseconds to wait. */
  take(userId: string, now: number): number {
    let bucket = this.#buckets.get(userId);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.settings.messagesPerSecond, this.settings.burst, now);
      this.#buckets.set(userId, bucket);
    }
    return bucket.take(now);
  }

  /** Called when the user's last local connection closes. */
  release(userId: string): void {
    this.#buckets.delete(userId);
  }
}

export interface IpSettings {
  maxConnPerIp: number;
  upgradesPerSecondPerIp: number;
}

/**
 * Per remote address: a cap on concurrent connections and a rate of upgrade
 * attempts (successful or not, so a token-guessing client is throttled too).
 */
export class IpGuard {
  readonly #connections = new Map<string, number>();
  readonly #upgrades = new Map<string, TokenBucket>();

  constructor(readonly settings: IpSettings) {}

  /** Counts an upgrade attempt; throws TOO_MANY_CONNECTIONS or RATE_LIMITED when over a limit. */
  admit(ip: string, now: number): void {
    let bucket = this.#upgrades.get(ip);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.settings.upgradesPerSecondPerIp, Math.max(1, Math.ceil(this.settings.upgradesPerSecondPerIp)), now);
      this.#upgrades.set(ip, bucket);
    }
    const wait = bucket.take(now);
    if (wait > 0) throw new GatewayError('RATE_LIMITED', 'too many connection attempts from this address', { retryAfterMs: wait });
    if ((this.#connections.get(ip) ?? 0) >= this.settings.maxConnPerIp) {
      throw new GatewayError('TOO_MANY_CONNECTIONS', 'too many connections from this address');
    }
  }

  opened(ip: string): void {
    this.#connections.set(ip, (this.#connections.get(ip) ?? 0) + 1);
  }

  closed(ip: string): void {
    const n = (this.#connections.get(ip) ?? 0) - 1;
    if (n > 0) this.#connections.set(ip, n);
    else this.#connections.delete(ip);
  }

  /** Forgets full upgrade buckets so that the map does not grow with every address ever seen. */
  sweep(now: number): void {
    for (const [ip, bucket] of this.#upgrades) if (bucket.isFull(now)) this.#upgrades.delete(ip);
  }
}
