import type { Logger } from 'pino';
import type { AlertMetric, AlertRule } from '../config.js';
import type { Metrics, Series } from './registry.js';
import type { Vitals, VitalsReading } from './vitals.js';
import type { AlertEvent, Webhook } from './webhook.js';

/** A rule's state as /api/v1/stats and the admin page show it. */
export interface AlertStatus {
  rule: string;
  metric: AlertMetric;
  state: 'firing' | 'ok';
  /** The metric at the last evaluation. */
  value: number;
  threshold: number;
  /** The rule's For, in ms. */
  forMs: number;
  /** When the rule last changed state (ms since the epoch); undefined before its first change. */
  since: number | undefined;
}

const READ: Record<AlertMetric, (v: VitalsReading) => number> = {
  connections: (v) => v.connections,
  latency_p99_ms: (v) => v.latencyP99Ms,
  error_rate: (v) => v.errorRate,
  memory_rss_mb: (v) => v.memoryRssMb,
  event_loop_p99_ms: (v) => v.eventLoopP99Ms,
};

interface RuleState {
  readonly rule: AlertRule;
  readonly gauge: Series;
  firing: boolean;
  /** Since when (ms) the value has been on the other side of the threshold; undefined while it agrees with the state. */
  crossingSince: number | undefined;
  value: number;
  since: number | undefined;
}

/**
 * Alerts.Rules, evaluated every Monitor.Interval over the vitals of that interval. A
 * rule fires once its value has stayed above the threshold for its For, and resolves
 * once it has stayed at or below it for as long; an evaluation that goes back across
 * the threshold restarts the wait. Each transition is logged once (firing: warn,
 * resolved: info), sets switchboard_alert_firing{rule} and is posted to the webhook.
 */
export class Alerts {
  readonly #states: RuleState[];
  readonly #vitals: Pick<Vitals, 'read'>;
  readonly #interval: number;
  readonly #nodeId: string;
  readonly #log: Logger;
  readonly #webhook: Webhook | undefined;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: {
    rules: readonly AlertRule[];
    vitals: Pick<Vitals, 'read'>;
    metrics: Metrics;
    interval: number;
    nodeId: string;
    log: Logger;
    webhook?: Webhook | undefined;
    clock?: () => number;
  }) {
    this.#vitals = deps.vitals;
    this.#interval = deps.interval;
    this.#nodeId = deps.nodeId;
    this.#log = deps.log;
    this.#webhook = deps.webhook;
    this.#clock = deps.clock ?? Date.now;
    this.#states = deps.rules.map((rule) => {
      const gauge = deps.metrics.counter('alert_firing', rule.name);
      gauge.value = 0;
      return { rule, gauge, firing: false, crossingSince: undefined, value: 0, since: undefined };
    });
  }

  /** Evaluates once now (so stats show real values from the start), then every interval. */
  start(): void {
    if (this.#timer !== undefined || this.#states.length === 0) return;
    this.evaluate();
    this.#timer = setInterval(() => this.evaluate(), this.#interval);
    this.#timer.unref();
  }

  /** One evaluation of every rule (the timer calls it; tests may too). */
  evaluate(now: number = this.#clock()): void {
    const reading = this.#vitals.read(this.#interval);
    for (const state of this.#states) {
      const { rule } = state;
      state.value = READ[rule.metric](reading);
      const above = state.value > rule.above;
      if (above === state.firing) {
        state.crossingSince = undefined;
        continue;
      }
      state.crossingSince ??= now;
      if (now - state.crossingSince < rule.for) continue;
      state.firing = above;
      state.crossingSince = undefined;
      state.since = now;
      state.gauge.value = above ? 1 : 0;
      const event: AlertEvent = {
        rule: rule.name,
        state: above ? 'firing' : 'resolved',
        value: state.value,
        threshold: rule.above,
        node: this.#nodeId,
        at: new Date(now).toISOString(),
      };
      const fields = { rule: rule.name, metric: rule.metric, value: state.value, threshold: rule.above };
      if (above) this.#log.warn(fields, 'alert firing');
      else this.#log.info(fields, 'alert resolved');
      this.#webhook?.post(event);
    }
  }

  /** Every rule's state, in configuration order. */
  list(): AlertStatus[] {
    return this.#states.map((s) => ({
      rule: s.rule.name,
      metric: s.rule.metric,
      state: s.firing ? 'firing' : 'ok',
      value: s.value,
      threshold: s.rule.above,
      forMs: s.rule.for,
      since: s.since,
    }));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#webhook?.stop();
  }
}
