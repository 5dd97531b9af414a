/**
 * A token bucket: `burst` tokens at most, refilled continuously at `ratePerSecond`.
 * Time is passed in (milliseconds, monotonic) so callers batch clock reads and tests
 * control time.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(readonly ratePerSecond: number, readonly burst: number, now: number) {
    this.#tokens = burst;
    this.#last = now;
  }

  #refill(now: number): void {
    const elapsed = now - this.#last;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
      this.#last = now;
    }
  }

  /** Takes one token. Returns 0 when taken, otherwise the milliseconds until one is available. */
  take(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond);
  }

  /**
   * Removes `n` tokens consumed elsewhere (other nodes). The balance may go negative,
   * down to -burst, so a user who overshot cluster-wide waits it off, but never for
   * longer than one full bucket's refill.
   */
  debit(n: number, now: number): void {
    this.#refill(now);
    this.#tokens = Math.max(-this.burst, this.#tokens - n);
  }

  /** True when the bucket is full (nothing to remember about this key any more). */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }
}
