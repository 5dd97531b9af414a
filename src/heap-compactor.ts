import { Session } from 'node:inspector';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import type { HeapConfig } from './config/types.js';
import type { Metrics } from './metrics/registry.js';

/**
 * What the compactor reads and does. `processHeap()` gives the process's own; tests
 * pass their own to drive the decision without waiting on a real heap.
 */
export interface HeapProbe {
  /** V8's committed heap (total_heap_size), in bytes. */
  heapBytes(): number;
  /** The fraction of time the event loop was busy since the previous call, 0..1. */
  busy(): number;
  /** A full, memory-reducing garbage collection; settles once it has run. */
  collect(): Promise<void>;
}

/** How often the heap and the loop are looked at (ms). */
const CHECK_MS = 1000;
/** A check period in which the loop was busy less than this fraction counts as quiet. */
const QUIET_BUSY = 0.05;
/** Quiet check periods in a row before a compaction: the burst is over, not paused. */
const QUIET_CHECKS = 2;

/**
 * Returns the garbage of a burst (a reconnect storm, a load test) to the OS once the
 * gateway goes quiet.
 *
 * Why: a burst of upgrades allocates about 13 KB per connection, most of it promoted
 * to the old generation by scavenges and then dead. V8 only returns such pages after a
 * mark-compact, and its memory reducer only starts after one; a burst that does not
 * reach the old generation's limit runs none, so the heap keeps its garbage (about
 * 1.3 KB per connection after 10,000 upgrades) for as long as the gateway stays idle.
 *
 * Contract: at most one compaction runs at a time. One starts only when V8's heap is at
 * least `compactAfterGrowth` bytes above the smallest size seen since the last one,
 * and the event loop has been busy less than 5 % in each of the last two one-second
 * periods. It is a full collection that stops the loop (90 ms at 10,000 connections on
 * a slow 2-core machine), so it never runs while the gateway is busy: a server
 * under steady load is left to V8's own collector. After a compaction the smallest
 * size is the heap it left, so steady idle never compacts twice.
 */
export class HeapCompactor {
  readonly #config: HeapConfig;
  readonly #probe: HeapProbe;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  #low: number;
  #quiet = 0;
  #running = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(config: HeapConfig, deps: { metrics: Metrics; log: Logger; probe?: HeapProbe }) {
    this.#config = config;
    this.#probe = deps.probe ?? processHeap();
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#low = this.#probe.heapBytes();
    this.#probe.busy();
  }

  start(): void {
    if (!this.#config.compactWhenIdle || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), CHECK_MS);
    this.#timer.unref();
  }

  /** Its timer runs (started, on, and not stopped or turned off by a failure). */
  get active(): boolean {
    return this.#timer !== undefined;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check (the timer calls it every second); returns the compaction it started, if any. */
  check(): Promise<void> | undefined {
    const heap = this.#probe.heapBytes();
    const busy = this.#probe.busy();
    if (this.#running) return undefined;
    this.#low = Math.min(this.#low, heap);
    this.#quiet = busy < QUIET_BUSY ? this.#quiet + 1 : 0;
    if (heap - this.#low < this.#config.compactAfterGrowth || this.#quiet < QUIET_CHECKS) return undefined;
    return this.#compact(heap);
  }

  async #compact(before: number): Promise<void> {
    this.#running = true;
    const startedAt = performance.now();
    try {
      await this.#probe.collect();
      const seconds = (performance.now() - startedAt) / 1000;
      const after = this.#probe.heapBytes();
      this.#low = after;
      this.#metrics.inc('heap_compactions_total');
      this.#metrics.histogram('heap_compaction_seconds').observe(seconds);
      this.#log.info({ heapBeforeMb: mb(before), heapAfterMb: mb(after), ms: Math.round(seconds * 1000) }, 'heap compacted after a burst');
    } catch (err) {
      // No inspector in this Node build, or it refused: nothing else would change that.
      this.#log.warn({ err }, 'heap compaction failed; Heap.CompactWhenIdle is off until restart');
      this.stop();
    } finally {
      this.#quiet = 0;
      this.#running = false;
    }
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 104857.6) / 10;
}

/** The running process's heap, event loop and collector. */
export function processHeap(): HeapProbe {
  let last = performance.eventLoopUtilization();
  return {
    heapBytes: () => getHeapStatistics().total_heap_size,
    busy: () => {
      const now = performance.eventLoopUtilization();
      const utilization = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return utilization;
    },
    collect: inspectorCollect,
  };
}

/**
 * The inspector's collectGarbage: a full collection that also shrinks the young
 * generation and compacts, as V8 does under memory pressure. Unlike `gc()` it needs no
 * `--expose-gc`, and a plain full `gc()` returned about half as much here.
 */
function inspectorCollect(): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = new Session();
    session.connect();
    session.post('HeapProfiler.collectGarbage', (err) => {
      // Disconnecting from inside the callback stalled the event loop (Node 20): after it.
      setImmediate(() => session.disconnect());
      if (err === null) resolve();
      else reject(err);
    });
  });
}
