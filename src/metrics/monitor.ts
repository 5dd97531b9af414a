import type { Logger } from 'pino';
import type { MetricName, Metrics } from './registry.js';
import type { RefusalCounter } from './refusals.js';
import type { Vitals } from './vitals.js';

const RATES: readonly MetricName[] = ['frames_in_total', 'messages_direct_total', 'messages_group_total', 'messages_broadcast_total', 'connections_opened_total'];

/**
 * Monitor.Enable / Monitor.Interval: logs one line per interval with the connection
 * count, per-second rates since the last line, process memory and (given vitals) the
 * interval's frame latency p99, error rate and event-loop delay p99, so an operator
 * without a metrics scraper still sees load and trends in the logs. Refused upgrades
 * are summed per error code into one `upgrades refused` line per interval (only when
 * there were any, and also with Monitor.Enable false): single connections log at
 * debug, so this line is where refusals show at info.
 */
export class Monitor {
  #timer: NodeJS.Timeout | undefined;
  #last: Partial<Record<MetricName, number>> = {};
  #lastAt = 0;

  constructor(
    private readonly metrics: Metrics,
    private readonly settings: { enable: boolean; interval: number },
    private readonly log: Logger,
    private readonly refusals?: RefusalCounter,
    private readonly vitals?: Pick<Vitals, 'read'>,
  ) {}

  start(): void {
    if ((!this.settings.enable && this.refusals === undefined) || this.#timer !== undefined) return;
    this.#lastAt = Date.now();
    this.#last = this.metrics.snapshot();
    this.#timer = setInterval(() => this.tick(), this.settings.interval);
    this.#timer.unref();
  }

  /** One interval: the stats line (when enabled) and the refusal summary; returns the stats (tests read it). */
  tick(): Record<string, number> {
    const refused = this.refusals?.drain();
    if (refused !== undefined && Object.keys(refused).length > 0) {
      const total = Object.values(refused).reduce((a, b) => a + b, 0);
      this.log.info({ refused, total, intervalMs: this.settings.interval }, 'upgrades refused');
    }
    if (!this.settings.enable) return {};
    return this.#stats();
  }

  #stats(): Record<string, number> {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.#lastAt) / 1000);
    const snapshot = this.metrics.snapshot();
    const report: Record<string, number> = { connections: snapshot.connections_current };
    for (const name of RATES) {
      report[`${name.replace(/_total$/, '')}_per_s`] = Math.round(((snapshot[name] - (this.#last[name] ?? 0)) / seconds) * 10) / 10;
    }
    const mem = process.memoryUsage();
    report['rss_mb'] = Math.round(mem.rss / 1048576);
    report['heap_mb'] = Math.round(mem.heapUsed / 1048576);
    if (this.vitals !== undefined) {
      const v = this.vitals.read(this.settings.interval);
      report['latency_p99_ms'] = v.latencyP99Ms;
      report['error_rate'] = v.errorRate;
      report['event_loop_p99_ms'] = v.eventLoopP99Ms;
    }
    this.#last = snapshot;
    this.#lastAt = now;
    this.log.info(report, 'stats');
    return report;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
