import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { HistogramSeries, quantile, type MetricName, type Metrics } from './registry.js';

/**
 * Close codes that end a connection as intended: normal closure, going away, no status
 * (a client that closed without a code), server restart, the per-user policy's eviction
 * and a backend disconnect. Every other code counts as an abnormal close.
 */
export const NORMAL_CLOSE_CODES: ReadonlySet<string> = new Set(['1000', '1001', '1005', '1012', '4008', '4010']);

/** The counters behind the rates. */
const MESSAGES_IN: readonly MetricName[] = ['messages_direct_total', 'messages_group_total', 'messages_broadcast_total'];
const COUNTERS: readonly MetricName[] = [
  ...MESSAGES_IN, 'frames_out_total', 'frames_in_total', 'frames_rejected_total', 'upgrades_rejected_total', 'connections_opened_total',
];

interface Sample {
  at: number;
  counters: number[];
  abnormalCloses: number;
  handle: HistogramSeries;
  /** Event-loop delay beyond the sampler's own period, over the period that ended with this sample (ms). */
  loopP50: number;
  loopP99: number;
}

/** The node's vital signs over a recent window: what the alert rules and the admin page read. */
export interface VitalsReading {
  connections: number;
  users: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  /** Frame handling (switchboard_frame_handle_seconds, every type) over the window, in ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /**
   * (refused upgrades + error frames + abnormal closes) / (upgrade attempts + frames
   * received) over the window, 0..1; 0 with no attempt.
   */
  errorRate: number;
  memoryRssMb: number;
  heapUsedMb: number;
  /** Event-loop delay (perf_hooks.monitorEventLoopDelay): the mean of the periods' p50s and the worst period's p99, in ms. */
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
}

export interface VitalsSources {
  connections(): number;
  users(): number;
}

/**
 * The event-loop sampler's timer period (ms). The histogram records the time between
 * its timer's runs, which includes this period; readings subtract it so that an idle
 * loop reads about 0 ms.
 */
const LOOP_RESOLUTION_MS = 10;

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Samples the gateway's counters, the frame-handling histogram and the event-loop
 * delay every `sampleMs` and keeps `windowMs` of samples, so that a reading over any
 * window up to that reflects the window, not the process's lifetime. Reading costs a
 * walk over the kept samples (tens), never over connections.
 */
export class Vitals {
  readonly #metrics: Metrics;
  readonly #sources: VitalsSources;
  readonly #samples: Sample[] = [];
  readonly #capacity: number;
  readonly #clock: () => number;
  readonly #loop: IntervalHistogram;
  #timer: NodeJS.Timeout | undefined;

  constructor(metrics: Metrics, sources: VitalsSources, options: { sampleMs?: number; windowMs?: number; clock?: () => number } = {}) {
    const sampleMs = options.sampleMs ?? 1000;
    this.#metrics = metrics;
    this.#sources = sources;
    this.#clock = options.clock ?? Date.now;
    this.#capacity = Math.max(2, Math.ceil((options.windowMs ?? 10_000) / sampleMs) + 1);
    // 10 ms resolution: fine enough for a p99 alert in milliseconds, cheap enough to leave on.
    this.#loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.#loop.enable();
    this.sample();
    this.#timer = setInterval(() => this.sample(), sampleMs);
    this.#timer.unref();
  }

  #capture(): Sample {
    const loop = this.#loop;
    const hasLoop = loop.count > 0;
    return {
      at: this.#clock(),
      counters: COUNTERS.map((n) => this.#metrics.get(n)),
      abnormalCloses: this.#abnormalCloses(),
      handle: this.#metrics.histogramTotal('frame_handle_seconds'),
      loopP50: hasLoop ? Math.max(0, loop.percentile(50) / 1e6 - LOOP_RESOLUTION_MS) : 0,
      loopP99: hasLoop ? Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) : 0,
    };
  }

  #abnormalCloses(): number {
    let n = 0;
    for (const [code, value] of this.#metrics.labeled('connections_closed_total')) if (!NORMAL_CLOSE_CODES.has(code)) n += value;
    return n;
  }

  /** Takes a sample now and starts a new event-loop period (the timer calls it; tests may too). */
  sample(): void {
    this.#samples.push(this.#capture());
    this.#loop.reset();
    if (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  /** The vitals over the last `windowMs` (at most the kept window), up to this moment. */
  read(windowMs = 10_000): VitalsReading {
    const now = this.#capture();
    const from = this.#samples.find((s) => s.at >= now.at - windowMs) ?? this.#samples[this.#samples.length - 1] ?? now;
    // At least one second: right after start a handful of messages would read as a burst.
    const seconds = Math.max(1, (now.at - from.at) / 1000);
    const delta = (name: MetricName): number => now.counters[COUNTERS.indexOf(name)]! - from.counters[COUNTERS.indexOf(name)]!;
    const handle = new Float64Array(now.handle.counts.length);
    for (let i = 0; i < handle.length; i++) handle[i] = now.handle.counts[i]! - from.handle.counts[i]!;

    const refusedUpgrades = delta('upgrades_rejected_total');
    const errors = refusedUpgrades + delta('frames_rejected_total') + (now.abnormalCloses - from.abnormalCloses);
    const attempts = refusedUpgrades + delta('connections_opened_total') + delta('frames_in_total');

    // Periods that ended inside the window, and the one running now.
    const periods = [...this.#samples.filter((s) => s.at > from.at), now];
    const mem = process.memoryUsage();
    return {
      connections: this.#sources.connections(),
      users: this.#sources.users(),
      messagesInPerSecond: round(MESSAGES_IN.reduce((sum, n) => sum + delta(n), 0) / seconds),
      messagesOutPerSecond: round(delta('frames_out_total') / seconds),
      latencyP50Ms: round(quantile(handle, 0.5) * 1000, 3),
      latencyP99Ms: round(quantile(handle, 0.99) * 1000, 3),
      errorRate: attempts === 0 ? 0 : round(Math.min(1, errors / attempts), 4),
      memoryRssMb: round(mem.rss / 1048576),
      heapUsedMb: round(mem.heapUsed / 1048576),
      eventLoopP50Ms: periods.length === 0 ? 0 : round(periods.reduce((sum, s) => sum + s.loopP50, 0) / periods.length, 2),
      eventLoopP99Ms: round(Math.max(0, ...periods.map((s) => s.loopP99)), 2),
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#loop.disable();
  }
}
