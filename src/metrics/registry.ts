import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricObjectWithValues, MetricType, MetricValueWithName } from 'prom-client';

/**
 * Latency buckets in seconds, 100 µs to 10 s: fine enough below a millisecond for a
 * frame answered from memory, coarse enough above a second for a stalled inbox.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Every metric the gateway exports, defined in one place so names stay stable and
 * documented (README "Monitoring" lists them). Names get the `switchboard_` prefix.
 * A metric with a `label` has one series per label value; the other ones have one.
 */
export const METRIC_DEFS = {
  connections_current: { kind: 'gauge', help: 'Open WebSocket connections on this node' },
  connections_opened_total: { kind: 'counter', help: 'WebSocket connections opened' },
  connections_closed_total: { kind: 'counter', help: 'WebSocket connections closed, by close code', label: 'code' },
  upgrades_rejected_total: { kind: 'counter', help: 'WebSocket upgrades refused, by error code', label: 'code' },
  users_online: { kind: 'gauge', help: 'Users with at least one connection on this node' },
  upgrades_refused_in_band_total: { kind: 'counter', help: 'Refused upgrades from browsers (Origin header) completed and closed at once with the refusal as close code and reason' },
  connections_expired_total: { kind: 'counter', help: 'Connections closed with 4011 because their token expired without a refresh' },
  token_refreshes_total: { kind: 'counter', help: 'Tokens replaced on a live connection by a refresh frame' },
  backpressure_drops_total: { kind: 'counter', help: 'Connections dropped at the hard send-buffer limit (about twice Limits.MaxBackpressure): a send refused there, or an abnormal close while over the soft limit (1006 at the client)' },
  filter_hits_total: { kind: 'counter', help: 'Frames the content filter matched, by what it did (reject, mask)', label: 'action' },
  frames_in_total: { kind: 'counter', help: 'Frames received from clients, by frame type ("invalid": not decodable)', label: 'type' },
  frames_rejected_total: { kind: 'counter', help: 'Error frames sent to clients, by error code', label: 'code' },
  rate_limited_total: { kind: 'counter', help: 'Refusals by a rate limit: scope "frame" (RATE_LIMITED frames) or "upgrade" (per-IP upgrade rate)', label: 'scope' },
  bytes_in_total: { kind: 'counter', help: 'Bytes of frames received from clients' },
  bytes_out_total: { kind: 'counter', help: 'Bytes of frames handed to client sockets (a fan-out counts each recipient)' },
  messages_direct_total: { kind: 'counter', help: 'Direct messages accepted' },
  messages_group_total: { kind: 'counter', help: 'Group messages accepted' },
  messages_broadcast_total: { kind: 'counter', help: 'Broadcasts accepted' },
  frames_out_total: { kind: 'counter', help: 'Frames sent to client sockets on this node (each fan-out recipient counts once)' },
  slow_consumers_closed_total: { kind: 'counter', help: 'Connections closed because their send buffer stayed over the limit' },
  inbox_stored_total: { kind: 'counter', help: 'Direct messages appended to an inbox' },
  inbox_replayed_total: { kind: 'counter', help: 'Inbox messages replayed to a connecting or syncing client' },
  inbox_dropped_total: { kind: 'counter', help: 'Inbox messages dropped because an inbox was over Offline.MaxPerUser' },
  presence_watchers: { kind: 'gauge', help: 'Presence watch subscriptions held by connections on this node' },
  redis_connected: { kind: 'gauge', help: 'Redis connections ready (1) or not (0); absent on a single node without Redis' },
  broker_publish_failures_total: { kind: 'counter', help: 'Publishes the broker refused (the message did not reach other nodes)' },
  alert_firing: { kind: 'gauge', help: 'Alert rules firing (1) or not (0), by rule name', label: 'rule' },
  http_requests_total: { kind: 'counter', help: 'HTTP requests served' },
  api_requests_total: { kind: 'counter', help: 'HTTP API (/api/v1) requests answered' },
  api_requests_failed_total: { kind: 'counter', help: 'HTTP API requests answered with a 4xx or 5xx status' },
  api_idempotent_replays_total: { kind: 'counter', help: 'HTTP API retries answered from an Idempotency-Key record' },
  api_messages_total: { kind: 'counter', help: 'Messages sent through the HTTP API (a push counts once per recipient)' },
  api_disconnects_total: { kind: 'counter', help: 'Connections closed on this node by an HTTP API disconnect' },
  frame_handle_seconds: { kind: 'histogram', help: 'From a client frame decoded to its reply or fan-out handed to uWS, by frame type', label: 'type' },
  delivery_ack_seconds: { kind: 'histogram', help: 'From the server timestamp of a direct message to the recipient\'s cumulative ack of it' },
  inbox_append_seconds: { kind: 'histogram', help: 'Duration of one inbox append (the durable write of a direct message)' },
  heap_compactions_total: { kind: 'counter', help: 'Full garbage collections run after a burst once the node went quiet (Heap.CompactWhenIdle)' },
  heap_compaction_seconds: { kind: 'histogram', help: 'Duration of one idle heap compaction (the event loop is stopped meanwhile)' },
} as const;

type Defs = typeof METRIC_DEFS;
type Labeled = { [K in keyof Defs]: Defs[K] extends { label: string } ? K : never }[keyof Defs];
type OfKind<Kind> = { [K in keyof Defs]: Defs[K]['kind'] extends Kind ? K : never }[keyof Defs];

/** Counters and gauges: everything `get`, `snapshot` and rate windows read. */
export type MetricName = Exclude<keyof Defs, OfKind<'histogram'>>;
/** Counters without a label: `inc` them by name. */
export type CounterName = Exclude<OfKind<'counter'>, Labeled>;
/** Counters with a label: resolve a child once with `counter(name, value)`. */
export type LabeledCounterName = Extract<OfKind<'counter'>, Labeled>;
export type GaugeName = Exclude<OfKind<'gauge'>, Labeled>;
export type HistogramName = OfKind<'histogram'>;

/** One series of a counter or gauge: a plain number, so updating it costs one addition. */
export class Series {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

/** One series of a histogram over LATENCY_BUCKETS: per-bucket counts (not cumulative; the last slot is above 10 s). */
export class HistogramSeries {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]! += 1;
    this.sum += seconds;
    this.count += 1;
  }

  /** Adds another series' counts into this one (summing label values). */
  add(other: HistogramSeries): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.sum += other.sum;
    this.count += other.count;
  }
}

/**
 * The q-quantile (0..1) of a bucket count array, interpolated linearly inside its
 * bucket as Prometheus's histogram_quantile does; 0 when there is no observation, the
 * top bound when it falls above it.
 */
export function quantile(counts: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!;
    if (seen + inBucket >= rank && inBucket > 0) {
      if (i >= LATENCY_BUCKETS.length) return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]!;
      const lower = i === 0 ? 0 : LATENCY_BUCKETS[i - 1]!;
      const upper = LATENCY_BUCKETS[i]!;
      return lower + ((upper - lower) * (rank - seen)) / inBucket;
    }
    seen += inBucket;
  }
  return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]!;
}

type Values = MetricObjectWithValues<MetricValueWithName<string>>;

/**
 * A prom-client histogram whose observations live in HistogramSeries: observing is
 * a bucket search and three additions, and prom-client renders the series on scrape.
 */
class SeriesHistogram extends Histogram<string> {
  readonly #name: string;
  readonly #help: string;
  readonly #label: string | undefined;
  readonly #series: () => Iterable<[string | undefined, HistogramSeries]>;

  constructor(name: string, help: string, label: string | undefined, registry: Registry, series: () => Iterable<[string | undefined, HistogramSeries]>) {
    super({ name, help, labelNames: label === undefined ? [] : [label], buckets: [...LATENCY_BUCKETS], registers: [registry] });
    this.#name = name;
    this.#help = help;
    this.#label = label;
    this.#series = series;
  }

  override async get(): Promise<Values> {
    return this.getForPromString();
  }

  /** What prom-client's Registry renders (it prefers this method to get() when present). */
  async getForPromString(): Promise<Values> {
    const values: MetricValueWithName<string>[] = [];
    const name = this.#name;
    for (const [label, s] of this.#series()) {
      const own: Record<string, string> = this.#label === undefined || label === undefined ? {} : { [this.#label]: label };
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { ...own, le: LATENCY_BUCKETS[i]! }, value: cumulative });
      }
      values.push({ metricName: `${name}_bucket`, labels: { ...own, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${name}_sum`, labels: own, value: s.sum });
      values.push({ metricName: `${name}_count`, labels: own, value: s.count });
    }
    // prom-client's typings declare MetricType as a numeric enum; its registry reads the
    // string. The series were read above: there is nothing left to collect.
    return { name, help: this.#help, type: 'histogram' as unknown as MetricType, values, aggregator: 'sum', collect: () => {} };
  }
}

export interface MetricsOptions {
  /** Metric name prefix; default "switchboard_". */
  prefix?: string;
  /** Also export prom-client's default process and Node metrics (memory, CPU, event-loop delay, GC). Default false. */
  defaults?: boolean;
  /** Metrics this node does not export (redis_connected without Redis); updating them still works. */
  omit?: readonly (keyof Defs)[];
}

/**
 * The registry behind GET /metrics, on prom-client. Hot-path updates never touch
 * prom-client: each series is a Series or HistogramSeries that callers resolve once
 * (`counter(name, label)`, `histogram(name, label)`) and then update with plain
 * arithmetic; prom-client reads them when scraped and adds its default metrics.
 */
export class Metrics {
  readonly prefix: string;
  readonly registry = new Registry();
  readonly #plain = new Map<MetricName, Series>();
  readonly #labeled = new Map<MetricName, Map<string, Series>>();
  readonly #histograms = new Map<HistogramName, Map<string | undefined, HistogramSeries>>();
  readonly #sources = new Map<GaugeName, () => number | undefined>();

  constructor(options: MetricsOptions = {}) {
    this.prefix = options.prefix ?? 'switchboard_';
    for (const [name, def] of Object.entries(METRIC_DEFS) as [keyof Defs, Defs[keyof Defs]][]) {
      const full = this.prefix + name;
      const label = 'label' in def ? def.label : undefined;
      if (def.kind === 'histogram') {
        const series = new Map<string | undefined, HistogramSeries>();
        this.#histograms.set(name as HistogramName, series);
        if (options.omit?.includes(name) !== true) new SeriesHistogram(full, def.help, label, this.registry, () => series.entries());
        continue;
      }
      const metric = name as MetricName;
      if (label !== undefined) this.#labeled.set(metric, new Map());
      else this.#plain.set(metric, new Series());
      const read = (set: (labels: Record<string, string>, value: number) => void): void => {
        const children = this.#labeled.get(metric);
        if (children !== undefined) {
          for (const [value, s] of children) set({ [label!]: value }, s.value);
          return;
        }
        const source = this.#sources.get(metric as GaugeName);
        const value = source === undefined ? this.#plain.get(metric)!.value : source();
        if (value !== undefined) set({}, value);
      };
      const registers = options.omit?.includes(name) === true ? [] : [this.registry];
      const config = { name: full, help: def.help, labelNames: label === undefined ? [] : [label], registers };
      if (def.kind === 'counter') {
        new Counter({ ...config, collect() { this.reset(); read((labels, value) => this.inc(labels, value)); } });
      } else {
        new Gauge({ ...config, collect() { this.reset(); read((labels, value) => this.set(labels, value)); } });
      }
    }
    if (options.defaults === true) collectDefaultMetrics({ register: this.registry });
  }

  /** Adds to a counter without a label. */
  inc(name: CounterName, by = 1): void {
    this.#plain.get(name)!.value += by;
  }

  /** The series of a counter without a label, for callers that update it per frame. */
  counterSeries(name: CounterName): Series {
    return this.#plain.get(name)!;
  }

  /** Sets a gauge without a label. */
  set(name: GaugeName, value: number): void {
    this.#plain.get(name)!.value = value;
  }

  /** A gauge read when scraped instead of set (undefined: no sample this time). */
  source(name: GaugeName, read: () => number | undefined): void {
    this.#sources.set(name, read);
  }

  /** The series of a labeled counter or gauge for one label value, created on first use. Keep it: resolving costs a map lookup. */
  counter(name: LabeledCounterName | 'alert_firing', label: string): Series {
    const children = this.#labeled.get(name)!;
    let s = children.get(label);
    if (s === undefined) {
      s = new Series();
      children.set(label, s);
    }
    return s;
  }

  /** The series of a histogram for one label value (none for unlabeled ones), created on first use. */
  histogram(name: HistogramName, label?: string): HistogramSeries {
    const children = this.#histograms.get(name)!;
    let s = children.get(label);
    if (s === undefined) {
      s = new HistogramSeries();
      children.set(label, s);
    }
    return s;
  }

  /** Every series of a histogram summed into one (a fresh copy). */
  histogramTotal(name: HistogramName): HistogramSeries {
    const total = new HistogramSeries();
    for (const s of this.#histograms.get(name)!.values()) total.add(s);
    return total;
  }

  /** A counter's or gauge's value, summed over its label values. */
  get(name: MetricName): number {
    const children = this.#labeled.get(name);
    if (children !== undefined) {
      let sum = 0;
      for (const s of children.values()) sum += s.value;
      return sum;
    }
    const source = this.#sources.get(name as GaugeName);
    return source === undefined ? this.#plain.get(name)!.value : (source() ?? 0);
  }

  /** A labeled counter's or gauge's value per label value. */
  labeled(name: LabeledCounterName | 'alert_firing'): [string, number][] {
    return [...this.#labeled.get(name)!].map(([label, s]) => [label, s.value]);
  }

  /** Every counter's and gauge's value, summed over label values. */
  snapshot(): Record<MetricName, number> {
    const out = {} as Record<MetricName, number>;
    for (const name of [...this.#plain.keys(), ...this.#labeled.keys()]) out[name] = this.get(name);
    return out;
  }

  /** The Prometheus text exposition of every metric (GET /metrics). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
