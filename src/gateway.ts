import { randomBytes } from 'node:crypto';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { idleTimeoutSeconds } from './config.js';
import { CLOSE } from './errors.js';
import type { Engines } from './engine/engines.js';
import { createEngines } from './engines.js';
import { DEFAULT_CODEC_LIMITS } from './protocol/codec.js';
import { Admission } from './core/admission.js';
import { Authenticator } from './core/auth.js';
import { ClientHandler } from './core/client.js';
import { Membership } from './core/membership.js';
import { ResendGuard } from './core/resends.js';
import { OriginPolicy } from './core/origins.js';
import { TrustedProxies } from './core/proxies.js';
import { TokenLifetime } from './core/token-lifetime.js';
import { Sessions, withDeadline } from './core/session.js';
import { ClusterControl } from './core/control.js';
import { DirectPolicy } from './core/direct-policy.js';
import { ContentFilter } from './core/filter/content-filter.js';
import { GroupPolicy } from './core/group-policy.js';
import { Rooms } from './core/rooms.js';
import { Hub } from './core/hub.js';
import { IdGenerator } from './core/ids.js';
import { IpGuard, UserRateLimiter } from './core/limits.js';
import { Messaging } from './core/messaging.js';
import { PresenceService } from './core/presence.js';
import { Metrics } from './metrics/registry.js';
import { Monitor } from './metrics/monitor.js';
import { HeapCompactor } from './heap-compactor.js';
import { RateWindow } from './metrics/rates.js';
import { RefusalCounter } from './metrics/refusals.js';
import { Alerts } from './metrics/alerts.js';
import { Vitals } from './metrics/vitals.js';
import { Webhook } from './metrics/webhook.js';
import { attachAdmin } from './transport/admin.js';
import { attachHttpApi } from './transport/api/index.js';
import { MESSAGES_IN, MESSAGES_OUT } from './transport/api/routes/stats.js';
import type { Router } from './transport/api/router.js';
import { attachDemo } from './transport/demo.js';
import { attachNotFound, attachOperationalRoutes, attachUpgradeRequired } from './transport/http.js';
import uws, { isNative } from './transport/uws.js';
import { attachWebSocket } from './transport/websocket.js';

/** After the close frames are sent at shutdown, how long the clients get to answer them (ms). */
const CLOSE_LINGER_MS = 250;
/** uSockets' listen option: bind without SO_REUSEPORT, so a port held by another process is refused. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

export interface GatewayOptions {
  config: Config;
  log: Logger;
  /** Engines to run on instead of the configured ones (tests). */
  engines?: Engines;
  /** Start on the JavaScript fallback of uWS instead of refusing (SWITCHBOARD_ALLOW_UWS_FALLBACK=1). */
  allowFallback?: boolean;
  /** Auth.Secret is the public development secret (main.ts knows it): the demo page may mint tokens. */
  devSecret?: boolean;
}

/**
 * A running gateway: the composition root. Start order: engines, hub and services,
 * routes, listen. Stop order (SIGTERM): stop listening; answer new frames UNAVAILABLE
 * and finish (and answer) every frame already accepted; close every connection with
 * 1012 once its answers have left; let the close handshakes finish; close engines.
 * All of it bounded by ShutdownTimeout.
 */
export class Gateway {
  readonly nodeId: string;
  #listenSocket: us_listen_socket | undefined;
  #port = 0;
  #stopping: Promise<void> | undefined;
  /** The HTTP API's router; undefined with Http.Enable false. */
  readonly apiRouter: Router | undefined;

  private constructor(
    readonly config: Config,
    readonly app: TemplatedApp,
    readonly hub: Hub,
    readonly engines: Engines,
    readonly metrics: Metrics,
    private readonly parts: {
      messaging: Messaging;
      rooms: Rooms;
      filter: ContentFilter;
      presence: PresenceService;
      userRate: UserRateLimiter;
      monitor: Monitor;
      sessions: Sessions;
      log: Logger;
      inboxSweep: NodeJS.Timeout;
      rates: RateWindow;
      vitals: Vitals;
      alerts: Alerts;
      heap: HeapCompactor;
    },
    nodeId: string,
    apiRouter: Router | undefined,
  ) {
    this.nodeId = nodeId;
    this.apiRouter = apiRouter;
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config, log } = options;
    const native = isNative();
    if (!native && options.allowFallback !== true) {
      throw new Error('uWebSockets.js native binary did not load (JavaScript fallback active); refusing to start. Set SWITCHBOARD_ALLOW_UWS_FALLBACK=1 to run degraded.');
    }
    if (!native) log.warn('RUNNING ON THE uWebSockets.js JAVASCRIPT FALLBACK: expect a fraction of normal throughput');

    const nodeId = config.cluster.nodeId ?? `n-${randomBytes(6).toString('hex')}`;
    const engines = options.engines ?? (await createEngines(config, nodeId, log));
    const app = config.tls === undefined
      ? uws.App()
      : uws.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile, ...(config.tls.passphrase !== undefined ? { passphrase: config.tls.passphrase } : {}) });

    const startedAt = Date.now();
    const metrics = new Metrics({ defaults: true, omit: config.redis === undefined ? ['redis_connected'] : [] });
    const hub = new Hub({ fanout: app, broker: engines.broker, nodeId, log: log.child({ module: 'hub' }), metrics });
    const groupPolicy = new GroupPolicy(config.groups);
    const presence = new PresenceService({
      store: engines.presence,
      hub,
      nodeId,
      settings: {
        ...config.presence,
        limit: { max: config.limits.maxConnPerUser, policy: config.limits.perUserPolicy },
        nodeLease: config.cluster.nodeLease,
        hidden: (group) => !groupPolicy.presenceVisible(group),
      },
      log: log.child({ module: 'presence' }),
    });
    const messaging = new Messaging({
      hub,
      inbox: engines.inbox,
      ids: new IdGenerator(),
      isVisible: (userId) => presence.isVisible(userId),
      nodeId,
      dedupWindow: config.limits.dedupWindow,
      // Half the soft limit: a replay never makes a reader look slow by itself.
      replayHighWater: Math.floor(config.limits.maxBackpressure / 2),
      metrics,
    });
    metrics.source('users_online', () => hub.userCount);
    metrics.source('presence_watchers', () => hub.watchCount());
    metrics.source('redis_connected', () => (engines.notReadyReason() === null ? 1 : 0));
    // Counts are only worth trading when other nodes exist (a Redis section).
    const userRate = new UserRateLimiter(
      config.limits.rateLimit,
      config.redis === undefined ? undefined : { share: engines.rateShare, nodeId, log: log.child({ module: 'rate' }) },
    );
    const admission = new Admission(hub, { maxConn: config.server.maxConn, maxConnPerUser: config.limits.maxConnPerUser, perUserPolicy: config.limits.perUserPolicy });
    const membership = new Membership({ hub, presence, maxGroupsPerConn: config.limits.maxGroupsPerConn });
    // Both series exist from the start (at 0), resolved once.
    const filterHits = { reject: metrics.counter('filter_hits_total', 'reject'), mask: metrics.counter('filter_hits_total', 'mask') };
    const filter = new ContentFilter(config.filter, log.child({ module: 'filter' }), (action) => filterHits[action].inc());
    const rooms = new Rooms({
      hub,
      policy: groupPolicy,
      history: engines.history,
      presence,
      members: engines.presence,
      filter,
      ids: new IdGenerator(),
      metrics,
      membership,
      clock: Date.now,
    });
    const client = new ClientHandler({
      hub,
      messaging,
      presence,
      rooms,
      membership,
      resends: new ResendGuard(engines.idempotency, config.limits.dedupWindow),
      direct: new DirectPolicy({ policy: config.directMessages, hub, members: engines.presence }),
      filter,
      clock: Date.now,
      metrics,
    });
    const codecLimits = { ...DEFAULT_CODEC_LIMITS, maxUsersPerList: Math.max(1, config.presence.maxWatch) };
    const auth = new Authenticator(config.auth);
    const sessions = new Sessions({
      settings: {
        maxBackpressure: config.limits.maxBackpressure,
        writeTimeout: config.server.writeTimeout,
        heartbeatInterval: config.server.heartbeatInterval,
        rate: config.limits.rateLimit,
      },
      codecLimits,
      hub,
      auth,
      admission,
      ipGuard: new IpGuard(config.limits),
      userRate,
      frames: client,
      presence,
      messaging,
      metrics,
      connIds: IdGenerator.forConnections(),
      log: log.child({ module: 'ws' }),
      origins: new OriginPolicy(config.http.allowedOrigins),
      tokens: new TokenLifetime(config.auth, auth),
    });
    const refusals = new RefusalCounter();
    attachWebSocket(app, {
      path: config.server.path,
      idleTimeoutSeconds: idleTimeoutSeconds(config.server),
      maxMessageBytes: config.limits.maxMessageBytes,
      maxBackpressure: config.limits.maxBackpressure,
      compression: config.compression.enable,
    }, { sessions, metrics, proxies: new TrustedProxies(config.http.trustedProxies), refusals });
    attachOperationalRoutes(app, {
      metrics,
      // At MaxConn the node refuses every upgrade: a load balancer should send them elsewhere.
      notReadyReason: () => engines.notReadyReason() ?? (admission.full ? `at MaxConn (${config.server.maxConn} connections)` : null),
    });
    attachUpgradeRequired(app, config.server.path);
    engines.onLost(() => rooms.outageBegan());
    engines.onRecovered(() => {
      presence.resync(hub.connections()).then(
        (n) => log.info({ connections: n }, 're-registered local connections after engine recovery'),
        (err: unknown) => log.error({ err }, 'resync after engine recovery failed'),
      );
      rooms.recoverAfterOutage().then(
        (n) => { if (n > 0) log.info({ messages: n }, 'group messages missed during the outage recovered from history'); },
        (err: unknown) => log.error({ err }, 'recovering group messages after the outage failed'),
      );
    });
    const rates = new RateWindow(metrics, [...MESSAGES_IN, ...MESSAGES_OUT]);
    const { interval } = config.monitor;
    // Samples at least once per evaluation, and keep the admin page's 10 s as well as one interval.
    const vitals = new Vitals(metrics, { connections: () => hub.size, users: () => hub.userCount }, {
      sampleMs: Math.min(1000, interval),
      windowMs: Math.max(10_000, interval),
    });
    const alertLog = log.child({ module: 'alerts' });
    const alerts = new Alerts({
      rules: config.alerts.rules,
      vitals,
      metrics,
      interval,
      nodeId,
      log: alertLog,
      webhook: config.alerts.webhook === undefined ? undefined : new Webhook(config.alerts.webhook, alertLog),
    });
    const apiRouter = attachHttpApi(app, {
      http: config.http,
      codecLimits,
      idempotency: engines.idempotency,
      services: {
        messaging,
        rooms,
        filter,
        presence,
        control: new ClusterControl({
          hub, membership, store: engines.presence, metrics, log: log.child({ module: 'control' }),
        }),
        hub,
        presenceStore: engines.presence,
        metrics,
        rates,
        vitals,
        alerts,
        nodeId,
        startedAt,
        cluster: config.redis !== undefined,
        maxContentBytes: config.limits.maxMessageBytes,
        // Push recipients and server-side members: up to 1000 per call, as the API promises.
        maxUsersPerList: DEFAULT_CODEC_LIMITS.maxUsersPerList,
      },
      log: log.child({ module: 'api' }),
    });
    if (config.http.enable) attachAdmin(app, { metrics, log: log.child({ module: 'admin' }) });
    if (config.demo.enable) attachDemo(app, { devSecret: options.devSecret === true ? config.auth.secret : undefined });
    attachNotFound(app);

    const monitor = new Monitor(metrics, config.monitor, log.child({ module: 'monitor' }), refusals, vitals);
    const inboxSweep = setInterval(() => {
      engines.inbox.sweep().then(
        (expired) => metrics.counterSeries('inbox_dropped_total').inc(expired),
        (err: unknown) => log.error({ err }, 'inbox sweep failed'),
      );
      engines.history.sweep().catch((err: unknown) => log.error({ err }, 'history sweep failed'));
    }, 60_000);
    inboxSweep.unref();
    const heap = new HeapCompactor(config.heap, { metrics, log: log.child({ module: 'heap' }) });

    const gateway = new Gateway(config, app, hub, engines, metrics, { messaging, rooms, filter, presence, userRate, monitor, sessions, log, inboxSweep, rates, vitals, alerts, heap }, nodeId, apiRouter);
    await hub.start().catch((err: unknown) => log.warn({ err }, 'could not subscribe the control topic yet; the broker retries'));
    presence.startLeases();
    userRate.start();
    sessions.start();
    await gateway.#listen();
    monitor.start();
    alerts.start();
    heap.start();
    log.info({ port: gateway.port, host: config.server.host, path: config.server.path, nodeId, tls: config.tls !== undefined }, 'listening');
    return gateway;
  }

  async #listen(): Promise<void> {
    const { host, port } = this.config.server;
    // uWS listens with SO_REUSEPORT by default: a second gateway on the same port would
    // start and the kernel would split connections between the two (direct messages
    // then land on the wrong process). LIBUS_LISTEN_EXCLUSIVE_PORT refuses that.
    // The (host, port, options, cb) form exists in this uWS build but not in its types.
    const listen = this.app.listen as unknown as (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp;
    await new Promise<void>((resolve, reject) => {
      listen.call(this.app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${host}:${port}: address in use by another process or not permitted (cluster nodes on one host need different ports)`));
          return;
        }
        this.#listenSocket = socket;
        this.#port = uws.us_socket_local_port(socket);
        resolve();
      });
    });
  }

  /** Presence as this node runs it (grace timers, announcements). */
  get presence(): PresenceService {
    return this.parts.presence;
  }

  /**
   * Re-reads the content filter's WordsFile (SIGHUP). Connections are untouched; a bad
   * file keeps the previous list. Returns whether the new list took effect.
   */
  reloadFilter(): boolean {
    return this.parts.filter.reload();
  }

  /** The bound port (useful with Port 0). */
  get port(): number {
    return this.#port;
  }

  /** Graceful stop; idempotent. Connections get 1012 (service restart: reconnect later). */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const { log } = this.parts;
    if (this.#listenSocket !== undefined) {
      uws.us_listen_socket_close(this.#listenSocket);
      this.#listenSocket = undefined;
    }
    const deadline = Date.now() + this.config.server.shutdownTimeout;
    this.parts.monitor.stop();
    this.parts.rates.stop();
    this.parts.alerts.stop();
    this.parts.vitals.stop();
    this.parts.heap.stop();
    clearInterval(this.parts.inboxSweep);
    // Answer every frame already accepted, then close each connection with 1012 once
    // its answers have left (see Sessions.shutdown).
    await this.parts.sessions.shutdown(CLOSE.RESTART, 'server restart', deadline);
    this.parts.sessions.stop();
    // uWS has handed each close frame to the kernel; give the clients a moment to read
    // it and answer before the process goes (a socket closed with unread input is
    // reset, which can discard the close frame at the client).
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(CLOSE_LINGER_MS, deadline - Date.now()))));
    for (const conn of [...this.hub.connections()]) conn.socket?.close();
    // Idle HTTP keep-alive sockets would otherwise hold the event loop for uWS's 10 s idle timeout.
    // close() exists in this uWS build but is missing from its type declarations.
    (this.app as TemplatedApp & { close(): void }).close();
    await withDeadline(Promise.all([this.parts.messaging.idle(), this.parts.rooms.idle(), this.parts.presence.idle()]), deadline);
    this.parts.presence.stop();
    this.hub.stop();
    this.parts.userRate.stop();
    await this.engines.close();
    log.info('stopped');
  }
}
