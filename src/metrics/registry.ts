/**
 * Every metric the gateway exports, defined in one place so names stay stable and
 * documented. Values are plain numbers updated on the hot path (no allocation);
 * `render()` produces the Prometheus text exposition format for GET /metrics.
 */
export const METRIC_DEFS = {
  connections_current: { kind: 'gauge', help: 'Open WebSocket connections on this node' },
  connections_opened_total: { kind: 'counter', help: 'WebSocket connections opened' },
  connections_closed_total: { kind: 'counter', help: 'WebSocket connections closed' },
  upgrades_rejected_total: { kind: 'counter', help: 'WebSocket upgrades refused (auth, limits, bad request)' },
  upgrades_refused_in_band_total: { kind: 'counter', help: 'Refused upgrades from browsers (Origin header) completed and closed at once with the refusal as close code and reason' },
  connections_expired_total: { kind: 'counter', help: 'Connections closed with 4011 because their token expired without a refresh' },
  token_refreshes_total: { kind: 'counter', help: 'Tokens replaced on a live connection by a refresh frame' },
  backpressure_drops_total: { kind: 'counter', help: 'Connections dropped at the hard send-buffer limit (about twice Limits.MaxBackpressure): a send refused there, or an abnormal close while over the soft limit (1006 at the client)' },
  frames_in_total: { kind: 'counter', help: 'Frames received from clients' },
  frames_rejected_total: { kind: 'counter', help: 'Client frames answered with an error' },
  messages_direct_total: { kind: 'counter', help: 'Direct messages accepted' },
  messages_group_total: { kind: 'counter', help: 'Group messages accepted' },
  messages_broadcast_total: { kind: 'counter', help: 'Broadcasts accepted' },
  slow_consumers_closed_total: { kind: 'counter', help: 'Connections closed because their send buffer stayed over the limit' },
  http_requests_total: { kind: 'counter', help: 'HTTP requests served' },
  frames_out_total: { kind: 'counter', help: 'Frames sent to client sockets on this node (each fan-out recipient counts once)' },
  api_requests_total: { kind: 'counter', help: 'HTTP API (/api/v1) requests answered' },
  api_requests_failed_total: { kind: 'counter', help: 'HTTP API requests answered with a 4xx or 5xx status' },
  api_idempotent_replays_total: { kind: 'counter', help: 'HTTP API retries answered from an Idempotency-Key record' },
  api_messages_total: { kind: 'counter', help: 'Messages sent through the HTTP API (a push counts once per recipient)' },
  api_disconnects_total: { kind: 'counter', help: 'Connections closed on this node by an HTTP API disconnect' },
} as const;

export type MetricName = keyof typeof METRIC_DEFS;

/**
 * Counters split by one label. Each lists its label's values up front, so every series
 * is exported from the start (at 0) and the hot path only adds to a number.
 */
export const LABELLED_DEFS = {
  filter_hits_total: { help: 'Frames the content filter matched, by what it did', label: 'action', values: ['reject', 'mask'] },
} as const;

export type LabelledName = keyof typeof LABELLED_DEFS;
export type LabelValue<N extends LabelledName> = (typeof LABELLED_DEFS)[N]['values'][number];

export class Metrics {
  readonly #values = new Map<MetricName, number>();
  readonly #labelled = new Map<LabelledName, Map<string, number>>();

  constructor(readonly prefix = 'switchboard_') {
    for (const name of Object.keys(METRIC_DEFS) as MetricName[]) this.#values.set(name, 0);
    for (const [name, def] of Object.entries(LABELLED_DEFS) as [LabelledName, (typeof LABELLED_DEFS)[LabelledName]][]) {
      this.#labelled.set(name, new Map(def.values.map((v) => [v, 0])));
    }
  }

  /** Adds to the series of a labelled counter. */
  incLabelled<N extends LabelledName>(name: N, value: LabelValue<N>, by = 1): void {
    const series = this.#labelled.get(name)!;
    series.set(value, (series.get(value) ?? 0) + by);
  }

  getLabelled<N extends LabelledName>(name: N, value: LabelValue<N>): number {
    return this.#labelled.get(name)?.get(value) ?? 0;
  }

  inc(name: MetricName, by = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + by);
  }

  set(name: MetricName, value: number): void {
    this.#values.set(name, value);
  }

  get(name: MetricName): number {
    return this.#values.get(name) ?? 0;
  }

  snapshot(): Record<MetricName, number> {
    return Object.fromEntries(this.#values) as Record<MetricName, number>;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, def] of Object.entries(METRIC_DEFS) as [MetricName, (typeof METRIC_DEFS)[MetricName]][]) {
      const full = this.prefix + name;
      lines.push(`# HELP ${full} ${def.help}`, `# TYPE ${full} ${def.kind}`, `${full} ${this.get(name)}`);
    }
    for (const [name, def] of Object.entries(LABELLED_DEFS) as [LabelledName, (typeof LABELLED_DEFS)[LabelledName]][]) {
      const full = this.prefix + name;
      lines.push(`# HELP ${full} ${def.help}`, `# TYPE ${full} counter`);
      for (const [value, n] of this.#labelled.get(name)!) lines.push(`${full}{${def.label}="${value}"} ${n}`);
    }
    return lines.join('\n') + '\n';
  }
}
