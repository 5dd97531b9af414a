import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { RateShare } from '../engine/rate-share.js';
import { TokenBucket } from './token-bucket.js';

export interface RateSettings {
  messagesPerSecond: number;
  burst: number;
}

/** How often per-user counts are exchanged with other nodes (ms). */
export const RATE_SHARE_INTERVAL = 200;

/**
 * Per-user message rate limit, shared by all of a user's connections (each
 * connection also has its own bucket, see Connection). Decisions are local, with no
 * round trip per frame; with a shared RateShare the node reports every
 * RATE_SHARE_INTERVAL only the users that sent frames here since the last exchange, and
 * debits the local buckets of users that other nodes report, so the limit holds
 * cluster-wide up to the overshoot RateShare documents while idle users cost nothing.
 * Buckets of users with no connection left are forgotten by `release`.
 */
export class UserRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  #sent = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #exchanging = false;

  /** `now`: the monotonic clock (ms) callers pass to take(); default performance.now. */
  constructor(
    readonly settings: RateSettings,
    private readonly cluster?: { share: RateShare; nodeId: string; log: Logger },
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Called when a connection of the user opens. In a cluster the bucket exists from then
   * on, so what the user sends on other nodes is debited here from the next exchange on,
   * even before this connection sends anything. On a single node nothing can be debited,
   * so the bucket waits for the user's first frame (`take`): an idle user holds none.
   */
  opened(userId: string, now: number): void {
    if (this.cluster !== undefined) this.#bucket(userId, now);
  }

  #bucket(userId: string, now: number): TokenBucket {
    let bucket = this.#buckets.get(userId);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.settings.messagesPerSecond, this.settings.burst, now);
      this.#buckets.set(userId, bucket);
    }
    return bucket;
  }

  /** Users holding a bucket on this node. */
  get size(): number {
    return this.#buckets.size;
  }

  /** 0 when the user may send now, else milliseconds to wait. */
  take(userId: string, now: number): number {
    const wait = this.#bucket(userId, now).take(now);
    if (wait === 0 && this.cluster !== undefined) this.#sent.set(userId, (this.#sent.get(userId) ?? 0) + 1);
    return wait;
  }

  /** Called when the user's last local connection closes. */
  release(userId: string): void {
    this.#buckets.delete(userId);
  }

  /** Starts exchanging counts with other nodes (no-op without a shared RateShare). */
  start(): void {
    if (this.cluster === undefined || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.exchange(), RATE_SHARE_INTERVAL);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * One exchange with the other nodes (the timer runs it every RATE_SHARE_INTERVAL):
   * reports what local users sent since the last one (users that sent nothing are not
   * named) and debits what users with a local bucket sent elsewhere.
   * Never rejects: while sharing fails each node still enforces the limit locally.
   */
  async exchange(): Promise<void> {
    const cluster = this.cluster;
    if (cluster === undefined || this.#exchanging) return;
    // Only users that sent are reported; other nodes' reports name the users they must
    // debit. With no local user at all there is nothing to report or to debit.
    const counts = this.#sent;
    if (counts.size === 0 && this.#buckets.size === 0) return;
    this.#sent = new Map();
    this.#exchanging = true;
    try {
      const remote = await cluster.share.exchange(cluster.nodeId, counts);
      const now = this.now();
      for (const [userId, n] of remote) if (n > 0) this.#buckets.get(userId)?.debit(n, now);
    } catch (err) {
      cluster.log.debug({ err }, 'rate share exchange failed');
    } finally {
      this.#exchanging = false;
    }
  }
}

export interface IpSettings {
  maxConnPerIp: number;
  upgradesPerSecondPerIp: number;
}

/**
 * Per remote address: a cap on concurrent connections and a rate of upgrade
 * attempts (successful or not, so a token-guessing client is throttled too).
 *
 * The cap counts upgrades still in flight (waiting on the token check) as well as
 * open connections: `admit` reserves a slot synchronously, and the slot is given back
 * by `release` when the upgrade fails or the connection closes. So however many
 * upgrades from one address arrive at once, at most `maxConnPerIp` are admitted.
 */
export class IpGuard {
  readonly #connections = new Map<string, number>();
  readonly #upgrades = new Map<string, TokenBucket>();

  constructor(readonly settings: IpSettings) {}

  /**
   * Counts an upgrade attempt and reserves a connection slot for the address.
   * @throws GatewayError RATE_LIMITED (too many attempts) or TOO_MANY_CONNECTIONS (at the cap); nothing is reserved then.
   */
  admit(ip: string, now: number): void {
    let bucket = this.#upgrades.get(ip);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.settings.upgradesPerSecondPerIp, Math.max(1, Math.ceil(this.settings.upgradesPerSecondPerIp)), now);
      this.#upgrades.set(ip, bucket);
    }
    const wait = bucket.take(now);
    if (wait > 0) throw new GatewayError('RATE_LIMITED', 'too many connection attempts from this address', { retryAfterMs: wait });
    const held = this.#connections.get(ip) ?? 0;
    if (held >= this.settings.maxConnPerIp) {
      throw new GatewayError('TOO_MANY_CONNECTIONS', 'too many connections from this address');
    }
    this.#connections.set(ip, held + 1);
  }

  /** Gives back the slot `admit` reserved: the upgrade failed, or the connection closed. */
  release(ip: string): void {
    const n = (this.#connections.get(ip) ?? 0) - 1;
    if (n > 0) this.#connections.set(ip, n);
    else this.#connections.delete(ip);
  }

  /** Slots held by an address (open connections and upgrades in flight). */
  held(ip: string): number {
    return this.#connections.get(ip) ?? 0;
  }

  /** Forgets full upgrade buckets so that the map does not grow with every address ever seen. */
  sweep(now: number): void {
    for (const [ip, bucket] of this.#upgrades) if (bucket.isFull(now)) this.#upgrades.delete(ip);
  }
}
