import type { Logger } from 'pino';
import type { Broker } from '../engine/broker.js';
import { GatewayError } from '../errors.js';

/** What subscribe() answers when nothing is pending: already in place. */
export const CONFIRMED: Promise<void> = Promise.resolve();

/**
 * The node's interest in logical topics (local subscribers, summed over formats) and the
 * broker subscriptions that follow it: a topic is subscribed on the broker when its
 * first local subscriber comes, and `add` resolves only once that subscription is
 * active, so a caller told "subscribed" misses nothing published from then on, on any
 * node. When the broker refuses, every waiter of that topic is rejected (UNAVAILABLE)
 * and must `drop` again; until the last has, a new subscriber subscribes anew. A topic
 * whose last local subscriber left stays subscribed for `lingerMs` more (0: none), so a
 * client that leaves and comes back (a reconnect, a page reload) causes no
 * subscribe/unsubscribe churn on the broker.
 */
export class TopicInterest {
  /** Local subscriber count per logical topic. */
  readonly #counts = new Map<string, number>();
  /** Broker subscriptions not yet confirmed, per logical topic. Confirmed topics have no entry. */
  readonly #pending = new Map<string, Promise<void>>();
  /** Topics with no local subscriber left, still subscribed on the broker until the deadline (monotonic ms). */
  readonly #lingering = new Map<string, number>();
  /** Topics whose broker subscription failed while they still have local subscribers (being rolled back). */
  readonly #refused = new Set<string>();
  #lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly lingerMs: number,
    private readonly now: () => number,
  ) {}

  /** Local subscribers of `logical`. */
  count(logical: string): number {
    return this.#counts.get(logical) ?? 0;
  }

  /** True while this node holds a broker subscription for `logical` (subscribers, or lingering). */
  held(logical: string): boolean {
    return this.#counts.has(logical) || this.#lingering.has(logical);
  }

  /** Topics with local subscribers, and how many. */
  entries(): IterableIterator<[string, number]> {
    return this.#counts.entries();
  }

  /**
   * One more local subscriber of `logical`. Resolves once the topic's broker
   * subscription is active (at once when it already is); rejects with UNAVAILABLE when
   * the broker refused it, and the caller then undoes its subscription (drop).
   */
  add(logical: string): Promise<void> {
    const before = this.#counts.get(logical) ?? 0;
    this.#counts.set(logical, before + 1);
    // Subscribed (or subscribing) on the broker already, for a current or a recent
    // subscriber: wait for that subscription, if it is still pending, and no other.
    if (before > 0 && !this.#refused.has(logical)) return this.#pending.get(logical) ?? CONFIRMED;
    if (before === 0 && this.#lingering.delete(logical)) return this.#pending.get(logical) ?? CONFIRMED;
    this.#refused.delete(logical);
    const pending = this.broker.subscribe(logical).then(
      () => {
        if (this.#pending.get(logical) === pending) this.#pending.delete(logical);
      },
      (err: unknown) => {
        if (this.#pending.get(logical) === pending) this.#pending.delete(logical);
        this.log.error({ err, topic: logical }, 'broker subscribe failed');
        // Its subscribers undo their subscriptions; until the last has, the topic is
        // known not to be on the broker: a new subscriber subscribes again.
        if (this.#counts.has(logical)) this.#refused.add(logical);
        else if (this.#lingering.delete(logical)) this.#brokerUnsubscribe(logical);
        throw new GatewayError('UNAVAILABLE', 'could not subscribe; try again');
      },
    );
    this.#pending.set(logical, pending);
    return pending;
  }

  /** One local subscriber fewer; the last one leaving starts the linger (or unsubscribes at once). */
  drop(logical: string): void {
    const after = (this.#counts.get(logical) ?? 0) - 1;
    if (after > 0) {
      this.#counts.set(logical, after);
      return;
    }
    this.#counts.delete(logical);
    if (this.lingerMs <= 0 || this.#refused.delete(logical)) {
      this.#brokerUnsubscribe(logical);
      return;
    }
    this.#lingering.set(logical, this.now() + this.lingerMs);
    if (this.#lingerTimer === undefined) {
      this.#lingerTimer = setInterval(() => this.endLingering(), Math.max(50, this.lingerMs / 4));
      this.#lingerTimer.unref();
    }
  }

  /** Unsubscribes the broker from every lingering topic whose deadline passed (a timer calls it; tests too). */
  endLingering(now: number = this.now()): void {
    for (const [logical, deadline] of this.#lingering) {
      if (deadline > now) continue;
      this.#lingering.delete(logical);
      this.#brokerUnsubscribe(logical);
    }
    if (this.#lingering.size === 0) this.#stopLingerTimer();
  }

  #stopLingerTimer(): void {
    clearInterval(this.#lingerTimer);
    this.#lingerTimer = undefined;
  }

  #brokerUnsubscribe(logical: string): void {
    this.broker.unsubscribe(logical).catch((err: unknown) => this.log.error({ err, topic: logical }, 'broker unsubscribe failed'));
  }

}
