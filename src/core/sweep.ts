/** Fewest connections looked at per tick, so small nodes finish a cycle in one tick. */
export const SWEEP_MIN_SLICE = 64;

/**
 * Visits every item of a changing collection once per cycle, a slice per tick: one
 * pass over tens of thousands of sockets at once would stall the event loop for
 * milliseconds (a native call per socket) and show up in everyone's p99. Items added
 * during a cycle may be visited in it or in the next; an item removed is not visited
 * after its removal (Map iterators skip deleted entries).
 *
 * Time is passed in (`tick(now)`), so tests drive it without timers.
 */
export class Sweep<T> {
  #cursor: Iterator<T>;
  readonly #ticksPerCycle: number;
  readonly #endOfCycle: (now: number) => void;

  /**
   * `items` is the live collection; `visit` is called once per item per cycle; a cycle
   * takes `ticksPerCycle` ticks (more when the slice minimum is larger); `endOfCycle`
   * runs after the last item of each cycle.
   */
  constructor(
    private readonly items: { values(): Iterator<T>; readonly size: number },
    private readonly visit: (item: T, now: number) => void,
    options: { ticksPerCycle: number; endOfCycle?: (now: number) => void },
  ) {
    this.#ticksPerCycle = Math.max(1, Math.round(options.ticksPerCycle));
    this.#endOfCycle = options.endOfCycle ?? (() => {});
    this.#cursor = items.values();
  }

  /** Visits the next slice: at least SWEEP_MIN_SLICE items, and enough to cover every item in one cycle. */
  tick(now: number): void {
    let budget = Math.max(SWEEP_MIN_SLICE, Math.ceil(this.items.size / this.#ticksPerCycle));
    while (budget-- > 0) {
      const next = this.#cursor.next();
      if (next.done === true) {
        this.#cursor = this.items.values();
        this.#endOfCycle(now);
        return;
      }
      this.visit(next.value, now);
    }
  }
}
