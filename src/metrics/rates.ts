import type { MetricName, Metrics } from './registry.js';

/**
 * Per-second rates of counters over a sliding window: samples the counters once per
 * `sampleMs` and keeps the last `windowMs` of samples, so a rate reflects the last
 * window and not the process's lifetime, and reading it costs nothing.
 */
export class RateWindow {
  readonly #metrics: Metrics;
  readonly #names: readonly MetricName[];
  readonly #capacity: number;
  readonly #samples: { at: number; values: number[] }[] = [];
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(metrics: Metrics, names: readonly MetricName[], options: { windowMs?: number; sampleMs?: number; clock?: () => number } = {}) {
    const sampleMs = options.sampleMs ?? 1_000;
    this.#metrics = metrics;
    this.#names = names;
    this.#capacity = Math.max(2, Math.round((options.windowMs ?? 10_000) / sampleMs) + 1);
    this.#clock = options.clock ?? Date.now;
    this.sample();
    this.#timer = setInterval(() => this.sample(), sampleMs);
    this.#timer.unref();
  }

  /** Takes a sample now (the timer calls it; tests may too). */
  sample(): void {
    this.#samples.push({ at: this.#clock(), values: this.#names.map((n) => this.#metrics.get(n)) });
    if (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  /**
   * The summed per-second rate of `names` (each given to the constructor) from the
   * oldest sample in the window to the counters' values now.
   */
  perSecond(names: readonly MetricName[]): number {
    const oldest = this.#samples[0];
    if (oldest === undefined) return 0;
    // At least one second: right after start a handful of messages over milliseconds
    // would read as a burst of thousands per second.
    const seconds = Math.max(1, (this.#clock() - oldest.at) / 1000);
    let delta = 0;
    for (const name of names) {
      const i = this.#names.indexOf(name);
      if (i < 0) throw new RangeError(`${name} is not sampled by this window`);
      delta += this.#metrics.get(name) - oldest.values[i]!;
    }
    return Math.round((delta / seconds) * 10) / 10;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
