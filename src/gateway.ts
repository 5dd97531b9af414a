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
import { Sessions } from './core/session.js';
import { ClusterControl } from './core/control.js';
import { GroupPolicy } from './core/group-policy.js';
import { Hub } from './core/hub.js';
import { IdGenerator } from './core/ids.js';
import { IpGuard, UserRateLimiter } from './core/limits.js';
import { Messaging } from './core/messaging.js';
import { PresenceService } from './core/presence.js';
import { Metrics } from './metrics/registry.js';
import { Monitor } from './metrics/monitor.js';
import { RateWindow } from './metrics/rates.js';
import { Alerts } from './metrics/alerts.js';
import { Vitals } from './metrics/vitals.js';
import { Webhook } from './metrics/webhook.js';
import { attachAdmin } from './transport/admin.js';
import { attachHttpApi } from './transport/api/index.js';
import { MESSAGES_IN, MESSAGES_OUT } from './transport/api/routes/stats.js';
import type { Router } from './transport/api/router.js';
import { attachNotFound, attachOperationalRoutes } from './transport/http.js';
import uws, { isNative } from './transport/uws.js';
import { attachWebSocket } from './transport/websocket.js';

export interface GatewayOptions {
  config: Config;
  log: Logger;
  /** Engines to run on instead of the configured ones (tests). */
  engines?: Engines;
  /** Start on the JavaScript fallback of uWS instead of refusing (SWITCHBOARD_ALLOW_UWS_FALLBACK=1). */
  allowFallback?: boolean;
}

/**
 * A running gateway: the composition root. Start order: engines, hub and services,
 * routes, listen. Stop order (SIGTERM): stop listening, close every connection with
 * 1012, wait for them (bounded by ShutdownTimeout), drain queued deliveries, close
 * engines.
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
      presence: PresenceService;
      userRate: UserRateLimiter;
      monitor: Monitor;
      sessions: Sessions;
      log: Logger;
      inboxSweep: NodeJS.Timeout;
      rates: RateWindow;
      vitals: Vitals;
      alerts: Alerts;
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
    const presence = new PresenceService({
      store: engines.presence,
      hub,
      nodeId,
      settings: {
        ...config.presence,
        limit: { max: config.limits.maxConnPerUser, policy: config.limits.perUserPolicy },
        nodeLease: config.cluster.nodeLease,
      },
      log: log.child({ module: 'presence' }),
    });
    const messaging = new Messaging({
      hub,
      inbox: engines.inbox,
      ids: new IdGenerator(),
      isConnected: (userId) => presence.isConnected(userId),
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
    const client = new ClientHandler({
      hub,
      messaging,
      presence,
      groups: new GroupPolicy(config.groups.open),
      membership,
      clock: Date.now,
      metrics,
    });
    const codecLimits = { ...DEFAULT_CODEC_LIMITS, maxUsersPerList: Math.max(1, config.presence.maxWatch) };
    const sessions = new Sessions({
      settings: {
        maxBackpressure: config.limits.maxBackpressure,
        writeTimeout: config.server.writeTimeout,
        heartbeatInterval: config.server.heartbeatInterval,
        rate: config.limits.rateLimit,
      },
      codecLimits,
      hub,
      auth: new Authenticator(config.auth),
      admission,
      ipGuard: new IpGuard(config.limits),
      userRate,
      frames: client,
      presence,
      messaging,
      metrics,
      connIds: new IdGenerator(),
      log: log.child({ module: 'ws' }),
    });
    attachWebSocket(app, {
      path: config.server.path,
      idleTimeoutSeconds: idleTimeoutSeconds(config.server),
      maxMessageBytes: config.limits.maxMessageBytes,
      maxBackpressure: config.limits.maxBackpressure,
      compression: config.compression.enable,
    }, sessions);
    attachOperationalRoutes(app, { metrics, notReadyReason: () => engines.notReadyReason() });
    engines.onRecovered(() => {
      presence.resync(hub.connections()).then(
        (n) => log.info({ connections: n }, 're-registered local connections after engine recovery'),
        (err: unknown) => log.error({ err }, 'resync after engine recovery failed'),
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
    attachNotFound(app);

    const monitor = new Monitor(metrics, config.monitor, log.child({ module: 'monitor' }), vitals);
    const inboxSweep = setInterval(() => {
      engines.inbox.sweep().then(
        (expired) => metrics.counterSeries('inbox_dropped_total').inc(expired),
        (err: unknown) => log.error({ err }, 'inbox sweep failed'),
      );
    }, 60_000);
    inboxSweep.unref();

    const gateway = new Gateway(config, app, hub, engines, metrics, { messaging, presence, userRate, monitor, sessions, log, inboxSweep, rates, vitals, alerts }, nodeId, apiRouter);
    await hub.start().catch((err: unknown) => log.warn({ err }, 'could not subscribe the control topic yet; the broker retries'));
    presence.startLeases();
    userRate.start();
    sessions.start();
    await gateway.#listen();
    monitor.start();
    alerts.start();
    log.info({ port: gateway.port, host: config.server.host, path: config.server.path, nodeId, tls: config.tls !== undefined }, 'listening');
    return gateway;
  }

  async #listen(): Promise<void> {
    const { host, port } = this.config.server;
    await new Promise<void>((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new Error(`cannot listen on ${host}:${port} (address in use or not permitted)`));
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
    this.parts.sessions.stop();
    this.parts.monitor.stop();
    this.parts.rates.stop();
    this.parts.alerts.stop();
    this.parts.vitals.stop();
    clearInterval(this.parts.inboxSweep);
    for (const conn of [...this.hub.connections()]) conn.socket?.end(CLOSE.RESTART, 'server restart');
    const deadline = Date.now() + this.config.server.shutdownTimeout;
    while (this.hub.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const conn of [...this.hub.connections()]) conn.socket?.close();
    // Idle HTTP keep-alive sockets would otherwise hold the event loop for uWS's 10 s idle timeout.
    // close() exists in this uWS build but is missing from its type declarations.
    (this.app as TemplatedApp & { close(): void }).close();
    const settled = Promise.all([this.parts.messaging.idle(), this.parts.presence.idle()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    this.parts.presence.stop();
    this.hub.stop();
    this.parts.userRate.stop();
    await this.engines.close();
    log.info('stopped');
  }
}
