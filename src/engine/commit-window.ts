import { performance } from 'node:perf_hooks';

/**
 * When a batch holding an urgent record (someone waits for it: an append) goes to the
 * disk, for the engines that group their writes (the journal, LMDB's GroupCommit).
 *
 * Contract: `windowMs` after the batch's first urgent record, so that appends arriving
 * meanwhile share its write (less CPU per message under load); but on the next turn
 * when the engine is quiet: nothing being written, and nothing written for at least
 * `windowMs` (an engine that never wrote is quiet). After a quiet spell nothing says
 * company is coming, and a lone message, which is most of a chat's traffic, should not
 * wait a window for it. Under steady load every batch still waits the window, so the
 * grouping (and the CPU it saves) is what it was.
 */
export class CommitPacer {
  readonly #windowMs: number;
  /** Writes handed to the disk and not yet settled. */
  #inFlight = 0;
  /** When the last write settled (performance.now() ms). */
  #quietSince = Number.NEGATIVE_INFINITY;
  readonly #now: () => number;

  /** `now`: monotonic milliseconds (tests pass their own). */
  constructor(windowMs: number, now: () => number = () => performance.now()) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** How long (ms) a batch whose first urgent record arrives now waits; 0: the next turn. */
  urgentDelay(): number {
    if (this.#windowMs === 0) return 0;
    return this.#inFlight === 0 && this.#now() - this.#quietSince >= this.#windowMs ? 0 : this.#windowMs;
  }

  /** A write went to the disk. */
  started(): void {
    this.#inFlight += 1;
  }

  /** A write settled (written or failed). */
  settled(): void {
    this.#inFlight -= 1;
    this.#quietSince = this.#now();
  }
}
