import type { Logger } from 'pino';
import type { WebhookConfig } from '../config.js';

/** One alert transition as POSTed to Alerts.Webhook.Url. */
export interface AlertEvent {
  rule: string;
  state: 'firing' | 'resolved';
  /** The rule's metric when it changed state, in the metric's unit. */
  value: number;
  threshold: number;
  /** The gateway node that evaluated the rule. */
  node: string;
  /** When it changed state, ISO 8601 UTC. */
  at: string;
}

/** First retry delay; each further retry waits twice as long, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Transitions waiting beyond this are dropped, oldest first: a dead receiver must not grow memory. */
const MAX_QUEUED = 100;

/**
 * Delivers alert transitions to the webhook, one at a time in order: each POST waits
 * at most Timeout, a failure (network error, timeout, non-2xx) is retried up to Retries
 * times with doubling backoff, then that event is given up. `post` only queues, so a
 * slow or dead receiver never blocks evaluation or anything else. A failure streak is
 * logged once when it starts (warn) and once when it ends (info).
 */
export class Webhook {
  readonly #settings: WebhookConfig;
  readonly #log: Logger;
  readonly #queue: AlertEvent[] = [];
  readonly #backoffMs: number;
  #running: Promise<void> | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  #failedAttempts = 0;

  constructor(settings: WebhookConfig, log: Logger, options: { backoffMs?: number } = {}) {
    this.#settings = settings;
    this.#log = log;
    this.#backoffMs = options.backoffMs ?? FIRST_BACKOFF_MS;
  }

  /** Queues a transition for delivery; returns at once. */
  post(event: AlertEvent): void {
    if (this.#stopped) return;
    this.#queue.push(event);
    if (this.#queue.length > MAX_QUEUED) {
      const lost = this.#queue.shift()!;
      this.#log.warn({ rule: lost.rule, state: lost.state }, 'alert webhook queue full: dropping the oldest transition');
    }
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves when every queued transition was delivered or given up (tests). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Gives up whatever is queued and cuts any backoff short; in-flight requests end by their timeout. */
  stop(): void {
    this.#stopped = true;
    this.#queue.length = 0;
    this.#wake?.();
  }

  async #drain(): Promise<void> {
    for (let event = this.#queue.shift(); event !== undefined && !this.#stopped; event = this.#queue.shift()) {
      await this.#deliver(event);
    }
  }

  async #deliver(event: AlertEvent): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 0; attempt <= this.#settings.retries && !this.#stopped; attempt++) {
      if (attempt > 0) await this.#sleep(Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2 ** (attempt - 1)));
      if (this.#stopped) return;
      const failure = await this.#attempt(body);
      if (failure === undefined) {
        if (this.#failedAttempts > 0) this.#log.info({ failedAttempts: this.#failedAttempts }, 'alert webhook reachable again');
        this.#failedAttempts = 0;
        return;
      }
      if (this.#failedAttempts === 0) {
        this.#log.warn({ url: redact(this.#settings.url), reason: failure, rule: event.rule, state: event.state }, 'alert webhook failing; retrying quietly until it answers again');
      }
      this.#failedAttempts += 1;
    }
  }

  /** One POST: undefined when the receiver answered 2xx, otherwise why not. */
  async #attempt(body: string): Promise<string | undefined> {
    try {
      const res = await fetch(this.#settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#settings.timeout),
      });
      // The body is not needed; reading it releases the connection.
      await res.arrayBuffer();
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError') return `no answer within ${this.#settings.timeout} ms`;
      return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** The URL without credentials or query (either may carry a token). */
function redact(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
