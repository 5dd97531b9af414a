import type { ErrorCode } from '../errors.js';

/**
 * Refused WebSocket upgrades counted per error code between two summary lines. At
 * thousands of upgrades a second one log line per refusal would drown everything
 * else; the monitor writes one line per Monitor.Interval with these counts instead
 * (upgrades_rejected_total keeps the running total for scrapers).
 */
export class RefusalCounter {
  #counts = new Map<ErrorCode, number>();

  count(code: ErrorCode): void {
    this.#counts.set(code, (this.#counts.get(code) ?? 0) + 1);
  }

  /** The counts since the last call (empty when there were none), and starts over. */
  drain(): Partial<Record<ErrorCode, number>> {
    const out = Object.fromEntries(this.#counts) as Partial<Record<ErrorCode, number>>;
    this.#counts = new Map();
    return out;
  }
}
