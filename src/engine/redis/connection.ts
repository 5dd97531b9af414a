import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../../config/types.js';
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../log.js';

/**
 * Connections to Redis for the cluster engines. Every connection made here:
 *
 * - has no offline queue: while disconnected a command fails at once instead of piling
 *   up in memory without bound; the engines turn that failure into UNAVAILABLE for
 *   the client (see `toRedisError`);
 * - fails commands that were in flight when the connection dropped instead of
 *   re-sending them on the next connection (maxRetriesPerRequest 0): a re-sent PUBLISH
 *   or inbox append may already have run once, and the Broker contract is at-most-once;
 * - reconnects forever with a capped backoff (never gives up, at most RETRY_CAP_MS
 *   between attempts), so a Redis restart heals by itself within seconds;
 * - is lazy (the constructor never blocks, never throws on an unreachable server) and
 *   starts connecting at once in the background, so the gateway starts even when
 *   Redis is down and reports it through RedisHealth.
 */

export type RedisClient = Redis | Cluster;

/** Longest wait for QUIT on close before dropping the connection. */
const QUIT_TIMEOUT_MS = 1_000;
/** Recoveries within this window run the onRecovered callbacks once. */
const RECOVERY_COALESCE_MS = 250;
/** How often the latency probe PINGs Redis. */
export const PROBE_INTERVAL_MS = 500;
/** A PING unanswered for this long means Redis is stalled: the node reports not-ready until it answers. */
export const STALL_AFTER_MS = 1_000;
/** Longest wait between two reconnect attempts. */
export const RETRY_CAP_MS = 2_000;
/** A TCP connect (and the handshake) that takes longer than this counts as failed. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A command unanswered for this long fails (the server may still run it). Without it a
 * command to a hung (not closed) server would wait forever; no engine uses blocking commands.
 */
const COMMAND_TIMEOUT_MS = 5_000;

/** Reconnect delay for attempt `times` (1, 2, ...): exponential from 50 ms, capped, with jitter; always a number. */
export function reconnectDelay(times: number): number {
  const base = Math.min(50 * 2 ** Math.min(Math.max(times, 1) - 1, 10), RETRY_CAP_MS);
  // Up to 20% jitter so that many gateways do not reconnect in lock step after a Redis restart.
  return Math.round(base * (0.8 + Math.random() * 0.2));
}

export interface CreateRedisOptions {
  /** Where the connection's state is tracked; by default a private one (it still logs). */
  health?: RedisHealth;
}

/**
 * Creates one Redis connection (type node) or cluster client (type cluster, the
 * endpoints are the seeds) and starts connecting in the background. `role` names it
 * in logs, in CLIENT LIST (connection name `switchboard:<role>`) and in health reasons.
 * Keys are NOT prefixed by the client: every engine prefixes its own keys and channels
 * with `cfg.keyPrefix`, so channel names and SCAN patterns follow the same rule.
 */
export function createRedis(cfg: RedisConfig, role: string, log: Logger, options: CreateRedisOptions = {}): RedisClient {
  if (cfg.endpoints.length === 0) throw new TypeError('redis config has no endpoint');
  const connectionName = `switchboard:${role}`;
  const perConnection = {
    password: cfg.password,
    connectionName,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    // Subscriptions are restored by the broker from its own wanted set (one code path for
    // node and cluster, and no double subscribe).
    autoResubscribe: false,
  } satisfies RedisOptions;
  let client: RedisClient;
  if (cfg.type === 'cluster') {
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => reconnectDelay(times),
      // Reconnect to a master that restarts with its slots (no failover happened).
      clusterNodeRetryStrategy: (times) => reconnectDelay(times),
      // Slot refreshes on a timer are ours (see refreshSlotsPeriodically): ioredis re-arms
      // its own timer when a refresh in flight ends after disconnect(), and that timer then
      // runs for ever and keeps the process alive.
      slotsRefreshInterval: 0,
      // Sharded subscribing is done by subscriber.ts, not by ioredis (see there why).
      shardedSubscribers: false,
      redisOptions: perConnection,
    };
    const cluster = new Cluster(cfg.endpoints.map((e) => ({ host: e.host, port: e.port })), clusterOptions);
    connectMastersEagerly(cluster, role, log);
    refreshSlotsPeriodically(cluster);
    client = cluster;
  } else {
    const endpoint = cfg.endpoints[0]!;
    client = new Redis({
      ...perConnection,
      host: endpoint.host,
      port: endpoint.port,
      db: cfg.db,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: (times) => reconnectDelay(times),
    });
  }
  const health = options.health ?? new RedisHealth(log);
  health.watch(role, client);
  trackers.set(client, health);
  // The first attempt's failure is reported (once) by the health tracker; retries go on.
  client.connect().catch((err: unknown) => log.debug({ role, err: errorText(err) }, 'redis first connect attempt failed'));
  return client;
}

/** How often a cluster client re-reads the slot map unprompted (slot moves, restarted masters). */
export const SLOTS_REFRESH_MS = 5_000;

/** The slot refresh timer of each cluster client, stopped by closeRedis. */
const slotRefreshers = new WeakMap<RedisClient, NodeJS.Timeout>();

/**
 * Notices slot moves and restarted masters without waiting for a MOVED reply: every
 * SLOTS_REFRESH_MS while the client is ready. Unref'd and stopped at close, so a closed
 * client never keeps the process alive (ioredis's own slotsRefreshInterval can: a
 * refresh that ends after disconnect() arms its timer again, for good).
 */
function refreshSlotsPeriodically(cluster: Cluster): void {
  const timer = setInterval(() => {
    if (cluster.status === 'ready') cluster.refreshSlotsCache();
  }, SLOTS_REFRESH_MS);
  timer.unref();
  slotRefreshers.set(cluster, timer);
}

/**
 * ioredis connects to a cluster node lazily, on the first command for it, and while
 * that node is connecting (with the offline queue off) it rejects the next commands and
 * retries them after retryDelayOnFailover: commands to one slot can then run out of
 * order (verified with ioredis 6.0.0: 50 concurrent INCRs answered 1,35,19,...).
 * Connecting every master as soon as it joins the pool keeps that window to start-up
 * and reconnects, instead of the first use of each master.
 */
function connectMastersEagerly(cluster: Cluster, role: string, log: Logger): void {
  const connect = (node: Redis): void => {
    if (node.options.readOnly === true || node.status !== 'wait') return;
    node.connect().catch((err: unknown) => log.debug({ role, err: errorText(err) }, 'redis cluster node connect failed'));
  };
  cluster.on('+node', (node: Redis) => connect(node));
  cluster.on('ready', () => {
    for (const node of cluster.nodes('master')) connect(node);
  });
}

/** True when every master of a cluster (or the single server) has a ready connection. */
export function allNodesReady(client: RedisClient): boolean {
  if (client.status !== 'ready') return false;
  if (!(client instanceof Cluster)) return true;
  const masters = client.nodes('master');
  return masters.length > 0 && masters.every((n) => n.status === 'ready');
}

/** Resolves when `client` (with a cluster: every master) is ready; rejects after `timeoutMs`. For start-up checks and tests. */
export async function waitReady(client: RedisClient, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!allNodesReady(client)) {
    if (Date.now() > deadline) throw new Error(`redis not ready after ${timeoutMs} ms (status ${client.status})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Closes a connection made by createRedis: QUIT when connected (pending replies still
 * arrive), bounded by QUIT_TIMEOUT_MS (a cluster QUITs every node, and one that is
 * reconnecting may never answer), then drops it for good. Never rejects.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  trackers.get(client)?.unwatch(client);
  clearInterval(slotRefreshers.get(client));
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
    });
    // Lost during QUIT: the disconnect below ends it anyway.
    await Promise.race([client.quit().then(() => {}, () => {}), timeout]);
    clearTimeout(timer);
    if ((client.status as string) === 'end') return;
  }
  client.disconnect();
}

/** The health tracker of each connection made by createRedis, so closeRedis can stop it reporting the close as a loss. */
const trackers = new WeakMap<RedisClient, RedisHealth>();

type State = 'connecting' | 'ready' | 'down';

interface Tracked {
  role: string;
  state: State;
  lastError: string | undefined;
  detach: () => void;
}

/**
 * Tracks whether each Redis connection is ready and logs once per state change (lost,
 * back, first connect failed), never once per retry. The gateway reads
 * `notReadyReason()` for its health/readiness report: null when every connection is
 * ready, otherwise a short human reason naming the roles that are not.
 */
export class RedisHealth {
  readonly #log: Logger;
  readonly #tracked = new Map<RedisClient, Tracked>();
  readonly #recovered: (() => void)[] = [];
  readonly #lost: (() => void)[] = [];
  #recoveryTimer: NodeJS.Timeout | undefined;
  /** Latency probes: per probed client, when its unanswered PING was sent (0: none outstanding). */
  readonly #probes = new Map<RedisClient, { role: string; sentAt: number; stalled: boolean; timer: NodeJS.Timeout }>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Registers a callback run after a connection came back from being down (lost, or
   * unreachable at start-up; not after a first connect that simply worked). Recoveries close together (a Redis restart brings back every
   * connection at once) run it once. A Redis that restarted may have lost its data, so
   * the gateway re-registers what it holds locally (presence, leases) from here.
   */
  onRecovered(callback: () => void): void {
    this.#recovered.push(callback);
  }

  /** Registers a callback run when a connection that was ready is lost (once per loss). */
  onLost(callback: () => void): void {
    this.#lost.push(callback);
  }

  /** True while recoveries are being coalesced: the onRecovered callbacks will run shortly. */
  get recoveryPending(): boolean {
    return this.#recoveryTimer !== undefined;
  }

  /** Runs the onRecovered callbacks (also used when a node finds its lease lapsed). */
  notifyRecovered(): void {
    if (this.#recoveryTimer !== undefined) return;
    this.#recoveryTimer = setTimeout(() => {
      this.#recoveryTimer = undefined;
      for (const callback of this.#recovered) {
        try {
          callback();
        } catch (err) {
          this.#log.error({ err: errorText(err) }, 'redis recovery callback threw');
        }
      }
    }, RECOVERY_COALESCE_MS);
    this.#recoveryTimer.unref();
  }

  /** Starts tracking a connection. Registers an 'error' listener, so ioredis never reports errors as unhandled. */
  watch(role: string, client: RedisClient): void {
    if (this.#tracked.has(client)) return;
    const entry: Tracked = { role, state: client.status === 'ready' ? 'ready' : 'connecting', lastError: undefined, detach: () => {} };
    const onReady = (): void => this.#set(entry, 'ready');
    const onDown = (): void => this.#set(entry, 'down');
    const onError = (err: unknown): void => {
      entry.lastError = errorText(err);
      // A first connect that fails is a state change too (connecting → down); later errors while down are retries.
      if (entry.state === 'connecting') this.#set(entry, 'down');
    };
    client.on('ready', onReady);
    client.on('close', onDown);
    client.on('end', onDown);
    client.on('error', onError);
    entry.detach = () => {
      client.off('ready', onReady);
      client.off('close', onDown);
      client.off('end', onDown);
      client.off('error', onError);
      // Keep swallowing late errors of a closing client instead of letting ioredis print them.
      client.on('error', () => {});
    };
    this.#tracked.set(client, entry);
  }

  /** Stops tracking (before an intentional close, so it is not reported as lost). */
  unwatch(client: RedisClient): void {
    const probe = this.#probes.get(client);
    if (probe !== undefined) {
      clearInterval(probe.timer);
      this.#probes.delete(client);
    }
    const entry = this.#tracked.get(client);
    if (entry === undefined) return;
    entry.detach();
    this.#tracked.delete(client);
  }

  /**
   * Probes a connected client's latency: a PING every PROBE_INTERVAL_MS (to every master
   * of a cluster). A Redis that is connected but frozen (SIGSTOP, a long blocking
   * script, a swapping host) keeps its TCP connection, so only an unanswered command
   * shows it: while a PING has been outstanding for STALL_AFTER_MS the node is not
   * ready (within 1.5 s of the stall), and it is ready again as soon as
   * the PING is answered. Stalls and recoveries are logged once each.
   */
  probe(role: string, client: RedisClient): void {
    if (this.#probes.has(client)) return;
    const state = { role, sentAt: 0, stalled: false, timer: setInterval(() => tick(), PROBE_INTERVAL_MS) };
    state.timer.unref();
    this.#probes.set(client, state);
    const send = (): void => {
      state.sentAt = performance.now();
      const servers: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
      Promise.all(servers.map((server) => server.ping())).then(
        () => {
          if (state.stalled) this.#log.info({ role, waitedMs: Math.round(performance.now() - state.sentAt) }, 'redis answers again');
          state.stalled = false;
          state.sentAt = 0;
        },
        (err: unknown) => {
          state.sentAt = 0;
          // Lost connection: the connection tracker reports it. A command timeout on a
          // connection that is still up is a stall that outlasted it: stay stalled and ask again.
          this.#log.debug({ role, err: errorText(err) }, 'redis latency probe failed');
          if (state.stalled && allNodesReady(client)) send();
        },
      );
    };
    const tick = (): void => {
      if (state.sentAt === 0) {
        if (allNodesReady(client)) send();
        return;
      }
      if (!state.stalled && performance.now() - state.sentAt >= STALL_AFTER_MS) {
        state.stalled = true;
        this.#log.warn({ role, waitedMs: Math.round(performance.now() - state.sentAt) }, 'redis stalled: no answer to PING; reporting not ready');
      }
    };
  }

  /** True when every tracked connection is ready. */
  get ready(): boolean {
    return this.notReadyReason() === null;
  }

  /** Null when every tracked connection is ready; otherwise e.g. `redis subscriber: down (connect ECONNREFUSED 127.0.0.1:6379)`. */
  notReadyReason(): string | null {
    const reasons: string[] = [];
    for (const [client, entry] of this.#tracked) {
      if (entry.state !== 'ready') {
        reasons.push(`redis ${entry.role}: ${entry.state}${entry.lastError === undefined ? '' : ` (${entry.lastError})`}`);
      } else if (client instanceof Cluster) {
        // The cluster client is up, but a master it needs may not be (its slots fail).
        const down = client.nodes('master').filter((n) => n.status !== 'ready').map((n) => `${n.options.host}:${n.options.port} ${n.status}`);
        if (down.length > 0) reasons.push(`redis ${entry.role}: master ${down.join(', ')}`);
      }
    }
    for (const probe of this.#probes.values()) {
      const waited = probe.sentAt === 0 ? 0 : performance.now() - probe.sentAt;
      if (probe.stalled || waited >= STALL_AFTER_MS) reasons.push(`redis ${probe.role}: stalled (no answer to PING for ${Math.round(waited)} ms)`);
    }
    return reasons.length === 0 ? null : reasons.join('; ');
  }

  #set(entry: Tracked, state: State): void {
    if (entry.state === state) return;
    const previous = entry.state;
    entry.state = state;
    if (state === 'ready') {
      entry.lastError = undefined;
      this.#log.info({ role: entry.role }, previous === 'connecting' ? 'redis connected' : 'redis connection restored');
      if (previous === 'down') this.notifyRecovered();
    } else if (state === 'down') {
      this.#log.warn({ role: entry.role, err: entry.lastError }, previous === 'ready'
        ? 'redis connection lost; reconnecting'
        : 'redis unreachable; retrying in the background');
      if (previous === 'ready') {
        for (const callback of this.#lost) {
          try {
            callback();
          } catch (err) {
            this.#log.error({ err: errorText(err) }, 'redis loss callback threw');
          }
        }
      }
    }
  }
}

/** A short description of anything thrown. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Redis server replies that mean "try again later" rather than "this command is wrong".
 * Everything else Redis replies with (ReplyError) is a bug or misuse and stays as it is.
 */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|BUSY|OOM|READONLY|NOREPLICAS)\b/;

/**
 * Maps a failure of a Redis command to what the gateway reports: connection trouble
 * (closed, not connected, timed out, cluster down) becomes GatewayError UNAVAILABLE
 * (close 1013 / HTTP 503: retry later), with the original error as `cause`; a
 * GatewayError passes through; any other error (a Redis reply error) is returned as it is.
 */
export function toRedisError(err: unknown): Error {
  if (err instanceof GatewayError) return err;
  const error = err instanceof Error ? err : new Error(String(err));
  if (error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)) return error;
  const out = new GatewayError('UNAVAILABLE', 'cluster store temporarily unavailable');
  Object.defineProperty(out, 'cause', { value: error, enumerable: false });
  return out;
}

/** Runs a Redis call and maps its failure with toRedisError. */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toRedisError(err);
  }
}
