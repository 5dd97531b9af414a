import { performance } from 'node:perf_hooks';

/** The shortest averaging time of the arrival rate (ms); see CommitPacer. */
const MIN_RATE_TAU_MS = 100;

/**
 * When a batch holding an urgent record (someone waits for it: an append) goes to the
 * disk, for the engines that group their writes (the journal, LMDB's GroupCommit).
 *
 * Contract: the batch waits `windowMs` after its first urgent record, so that appends
 * arriving meanwhile share its write, only when company is expected: when urgent
 * records have lately been arriving at a rate of at least one per window. Otherwise it
 * is written on the next turn. What arrives while a write is in flight still forms the
 * next batch (engines keep one write in flight), so a burst is grouped either way.
 *
 * Why: a window buys fewer writes (less CPU per message) for that much more latency.
 * At a few hundred appends a second and more it pays: each write carries several. At
 * a light load it carries nothing but the latency: a lone chat message waited the
 * whole window (3 ms by default, about 4 ms with the timer's rounding) for company
 * that did not come. The rate is an exponentially decaying average over
 * max(100 ms, 10 windows), so a steady load keeps its window and a quiet spell lets
 * the next append go at once.
 */
export class CommitPacer {
  readonly #windowMs: number;
  readonly #tauMs: number;
  /** Urgent records per ms, as of #lastAt. */
  #rate = 0;
  #lastAt = Number.NEGATIVE_INFINITY;
  readonly #now: () => number;

  /** `now`: monotonic milliseconds (tests pass their own). */
  constructor(windowMs: number, now: () => number = () => performance.now()) {
    this.#windowMs = windowMs;
    this.#tauMs = Math.max(MIN_RATE_TAU_MS, 10 * windowMs);
    this.#now = now;
  }

  /**
   * Counts an urgent record arriving now and returns how long (ms) a batch whose first
   * urgent record it is waits; 0: the next turn. The estimate is of the records before
   * this one, so a first record on a quiet engine never waits.
   */
  urgent(): number {
    if (this.#windowMs === 0) return 0;
    const now = this.#now();
    // Before any record #lastAt is -Infinity: the decay factor is 0 and so is the rate.
    const before = this.#rate * Math.exp((this.#lastAt - now) / this.#tauMs);
    this.#rate = before + 1 / this.#tauMs;
    this.#lastAt = now;
    return before * this.#windowMs >= 1 ? this.#windowMs : 0;
  }
}
