import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { CLOSE, GatewayError, toGatewayError } from '../errors.js';
import type { Format } from '../protocol/frames.js';
import { decodeFrame, errorFrame, type CodecLimits } from '../protocol/codec.js';
import type { Admission } from '../core/admission.js';
import { bearerToken, type Authenticator } from '../core/auth.js';
import type { ClientHandler } from '../core/client.js';
import { createConnection, type Connection, type SocketData } from '../core/connection.js';
import type { Hub } from '../core/hub.js';
import type { IdGenerator } from '../core/ids.js';
import type { IpGuard, UserRateLimiter } from '../core/limits.js';
import type { Messaging } from '../core/messaging.js';
import type { PresenceService } from '../core/presence.js';
import type { Metrics } from '../metrics/registry.js';
import uws from './uws.js';
import { sendError } from './http.js';

/** Slow-consumer sweep: tick length, and the fewest connections looked at per tick. */
const SWEEP_TICK_MS = 50;
const SWEEP_MIN_SLICE = 64;

export interface WebSocketSettings {
  path: string;
  idleTimeoutSeconds: number;
  writeTimeout: number;
  maxMessageBytes: number;
  maxBackpressure: number;
  compression: boolean;
  rate: { messagesPerSecond: number; burst: number };
}

export interface WebSocketDeps {
  settings: WebSocketSettings;
  codecLimits: CodecLimits;
  hub: Hub;
  auth: Authenticator;
  admission: Admission;
  ipGuard: IpGuard;
  userRate: UserRateLimiter;
  client: ClientHandler;
  presence: PresenceService;
  messaging: Messaging;
  metrics: Metrics;
  connIds: IdGenerator;
  log: Logger;
}

/**
 * Picks the wire format from `Sec-WebSocket-Protocol` (first supported entry wins,
 * and is echoed back as the browser requires) or else `?format=`; JSON by default.
 * A client that offers only protocols we do not speak is refused.
 */
export function negotiateFormat(protocolHeader: string, formatQuery: string): { format: Format; protocol: string } {
  if (protocolHeader !== '') {
    const offered = protocolHeader.split(',').map((p) => p.trim().toLowerCase());
    const chosen = offered.find((p): p is Format => p === 'json' || p === 'msgpack');
    if (chosen === undefined) throw new GatewayError('BAD_REQUEST', `unsupported subprotocol; offer msgpack or json`);
    return { format: chosen, protocol: chosen };
  }
  if (formatQuery === '' || formatQuery === 'json') return { format: 'json', protocol: '' };
  if (formatQuery === 'msgpack') return { format: 'msgpack', protocol: '' };
  throw new GatewayError('BAD_REQUEST', `format must be msgpack or json`);
}

/**
 * Attaches the WebSocket endpoint: authentication and admission at the upgrade,
 * frame decoding, rate limits, dispatch, presence and replay on open, cleanup on
 * close, and the slow-consumer sweep. Returns a handle to stop the sweep.
 */
export function attachWebSocket(app: TemplatedApp, deps: WebSocketDeps): { stop(): void } {
  const { settings, hub, metrics, log } = deps;
  const softLimit = settings.maxBackpressure;

  app.ws<SocketData>(settings.path, {
    maxPayloadLength: settings.maxMessageBytes,
    // Above the soft limit a client has WriteTimeout to catch up (see the sweep);
    // the hard limit stops one client from holding unbounded memory meanwhile.
    maxBackpressure: 2 * softLimit + settings.maxMessageBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: settings.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    compression: settings.compression ? uws.SHARED_COMPRESSOR : uws.DISABLED,

    upgrade: (res, req, context) => upgrade(res, req, context, deps),

    open: (ws) => {
      const conn = ws.getUserData().conn;
      conn.socket = ws;
      hub.add(conn);
      deps.ipGuard.opened(conn.ip);
      deps.userRate.opened(conn.principal.userId, performance.now());
      metrics.inc('connections_opened_total');
      metrics.set('connections_current', hub.size);
      // The module logger with the connection's id: the same line a child logger would
      // write, without keeping a child per quiet connection.
      log.info({ connId: conn.id, userId: conn.principal.userId, format: conn.format, ip: conn.ip }, 'open');
      conn.ready = (async () => {
        const registration = conn.registration;
        conn.registration = undefined; // needed only until open; not kept per connection
        await deps.presence.connected(conn, registration);
        await deps.messaging.replay(conn, 0);
      })().catch((err: unknown) => conn.log.error({ err }, 'open-time work failed'));
    },

    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      metrics.inc('frames_in_total');
      // Decoding is synchronous and copies what it keeps, so the ArrayBuffer (valid
      // only during this call) is not used after it returns.
      const decoded = decodeFrame(new Uint8Array(message), isBinary, deps.codecLimits);
      if (!decoded.ok) {
        metrics.inc('frames_rejected_total');
        hub.send(conn, errorFrame(decoded.error, decoded.id));
        if (conn.garbage.take(performance.now()) > 0) ws.end(CLOSE.POLICY, 'too many malformed frames');
        return;
      }
      const now = performance.now();
      const wait = Math.max(conn.rate.take(now), deps.userRate.take(conn.principal.userId, now));
      if (wait > 0) {
        metrics.inc('frames_rejected_total');
        hub.send(conn, errorFrame(new GatewayError('RATE_LIMITED', undefined, { retryAfterMs: wait }), decoded.frame.id));
        if (conn.abuse.take(now) > 0) ws.end(CLOSE.POLICY, 'sustained rate limit abuse');
        return;
      }
      void deps.client.handle(conn, decoded.frame);
    },

    drain: (ws) => {
      const conn = ws.getUserData().conn;
      if (ws.getBufferedAmount() <= softLimit) conn.slowSince = 0;
    },

    close: (ws, code) => {
      const conn = ws.getUserData().conn;
      conn.socket = undefined;
      const remaining = hub.remove(conn);
      deps.ipGuard.closed(conn.ip);
      if (remaining === 0) deps.userRate.release(conn.principal.userId);
      metrics.inc('connections_closed_total');
      metrics.set('connections_current', hub.size);
      log.info({ connId: conn.id, userId: conn.principal.userId, code }, 'close');
      void conn.ready
        .then(() => deps.presence.disconnected(conn))
        .catch((err: unknown) => conn.log.error({ err }, 'close-time work failed'));
    },

    subscription: (_ws, topic, newCount, oldCount) => {
      hub.onSubscription(Buffer.from(topic).toString(), newCount, oldCount);
    },
  });

  // The slow-consumer sweep visits every connection once per cycle, a slice per tick:
  // one pass over tens of thousands of sockets at once would stall the event loop for
  // milliseconds (a native call per socket) and show up in everyone's p99.
  const cycle = Math.min(1000, Math.max(100, settings.writeTimeout / 4));
  const ticksPerCycle = Math.max(1, Math.round(cycle / SWEEP_TICK_MS));
  let cursor = hub.connections();
  const sweep = setInterval(() => {
    const now = Date.now();
    let budget = Math.max(SWEEP_MIN_SLICE, Math.ceil(hub.size / ticksPerCycle));
    while (budget-- > 0) {
      const next = cursor.next();
      if (next.done === true) {
        cursor = hub.connections();
        deps.ipGuard.sweep(performance.now());
        break;
      }
      const conn = next.value;
      const socket = conn.socket;
      if (socket === undefined) continue;
      const buffered = socket.getBufferedAmount();
      if (buffered <= softLimit) {
        conn.slowSince = 0;
      } else if (conn.slowSince === 0) {
        conn.slowSince = now;
      } else if (now - conn.slowSince >= settings.writeTimeout) {
        metrics.inc('slow_consumers_closed_total');
        conn.log.warn({ buffered }, 'closing slow consumer');
        socket.end(CLOSE.SLOW_CONSUMER, 'slow consumer');
      }
    }
  }, Math.min(SWEEP_TICK_MS, cycle));
  sweep.unref();

  return { stop: () => clearInterval(sweep) };
}

function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, deps: WebSocketDeps): void {
  // Everything from req must be read now: it is only valid during this call.
  const key = req.getHeader('sec-websocket-key');
  const protocolHeader = req.getHeader('sec-websocket-protocol');
  const extensions = req.getHeader('sec-websocket-extensions');
  const token = bearerToken(req.getHeader('authorization')) || req.getQuery('token') || '';
  const formatQuery = req.getQuery('format') ?? '';
  const ip = Buffer.from(res.getRemoteAddressAsText()).toString();

  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });

  let negotiated: { format: Format; protocol: string };
  try {
    negotiated = negotiateFormat(protocolHeader, formatQuery);
    deps.ipGuard.admit(ip, performance.now());
    deps.admission.reserveNode();
  } catch (err) {
    deps.metrics.inc('upgrades_rejected_total');
    sendError(res, toGatewayError(err), true);
    return;
  }

  void (async () => {
    let localUser: string | undefined;
    let registered: { connId: string; userId: string } | undefined;
    try {
      const principal = await deps.auth.verify(token);
      if (aborted) throw new GatewayError('BAD_REQUEST', 'upgrade aborted by the client');
      const id = deps.connIds.next();
      // The per-user limit is applied by the presence store, atomically and (with a
      // shared store) cluster-wide; local counting is the fallback while it is down.
      const registration = await deps.presence.register(id, principal.userId);
      if (registration === undefined) {
        deps.admission.reserveUser(principal.userId);
        localUser = principal.userId;
      } else {
        registered = { connId: id, userId: principal.userId };
      }
      if (aborted) throw new GatewayError('BAD_REQUEST', 'upgrade aborted by the client');
      const conn = createConnection(
        { id, principal, format: negotiated.format, ip, log: deps.log },
        deps.settings.rate,
        performance.now(),
      );
      conn.registration = registration;
      res.cork(() => {
        res.upgrade<SocketData>({ conn }, key, negotiated.protocol, extensions, context);
      });
      // uWS runs `open` inside upgrade(), so the hub counts the connection from here on.
      deps.admission.release(localUser);
    } catch (err) {
      deps.admission.release(localUser);
      deps.metrics.inc('upgrades_rejected_total');
      if (registered !== undefined) {
        const { connId, userId } = registered;
        deps.presence.unregister(connId, userId).catch((e: unknown) => deps.log.error({ err: e }, 'could not undo a registration'));
      }
      if (!aborted) sendError(res, toGatewayError(err), true);
    }
  })();
}
