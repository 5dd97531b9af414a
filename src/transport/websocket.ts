import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { ClientSocket } from '../core/client-socket.js';
import type { Connection } from '../core/connection.js';
import { bearerToken } from '../core/auth.js';
import type { TrustedProxies } from '../core/proxies.js';
import type { Sessions } from '../core/session.js';
import type { UpgradeRequest } from '../core/upgrade.js';
import type { Metrics } from '../metrics/registry.js';
import type { RefusalCounter } from '../metrics/refusals.js';
import type { GatewayError } from '../errors.js';
import uws from './uws.js';
import { sendError } from './http.js';
import { SharedValues } from '../core/shared-values.js';

export interface WebSocketSettings {
  path: string;
  idleTimeoutSeconds: number;
  maxMessageBytes: number;
  maxBackpressure: number;
  compression: boolean;
}

/**
 * What the uWS socket carries as its UserData. uWS copies the own properties of the
 * object given to `upgrade()` onto a new object, which would drop a class's getters
 * and private fields, so the socket holds only a reference to the Connection.
 */
interface SocketData {
  /** undefined for a refused browser upgrade: the socket exists only to carry the refusal. */
  readonly conn: Connection | undefined;
  readonly refusal: Refusal | undefined;
}

/** Why a browser's upgrade was refused, sent as the close code and reason right after open. */
interface Refusal {
  readonly code: number;
  readonly reason: string;
}

/** What the adapter needs besides the session core. */
export interface WebSocketDeps {
  sessions: Sessions;
  metrics: Metrics;
  /** Who may tell us the client's address (X-Forwarded-For / X-Real-IP). */
  proxies: TrustedProxies;
  /** Counts refusals per error code for the periodic summary line. */
  refusals: RefusalCounter;
}

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 5.5: control frames carry at most 125). */
const MAX_REASON_BYTES = 123;

function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= MAX_REASON_BYTES) return message;
  let cut = message;
  // Leaves room for the 3-byte ellipsis; never ends on half a surrogate pair.
  while (Buffer.byteLength(cut) > MAX_REASON_BYTES - 3 || /[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/**
 * uWS's WebSocket as the core's ClientSocket. One small object per connection: the
 * core never sees uWS types, and a closed uWS socket (which throws on any access) is
 * never reached because the core drops the socket on close.
 */
class UwsClientSocket implements ClientSocket {
  /** A send was refused at the hard limit (the drop is counted once per connection). */
  dropped = false;

  constructor(private readonly ws: WebSocket<SocketData>, private readonly metrics: Metrics) {}

  send(bytes: Uint8Array | string, binary: boolean): boolean {
    // 1: sent, 0: queued over the soft limit (still delivered), 2: dropped at the hard limit.
    if (this.ws.send(bytes, binary) !== 2) return true;
    if (!this.dropped) this.metrics.inc('backpressure_drops_total');
    this.dropped = true;
    return false;
  }

  bufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }

  cork(fn: () => void): void {
    this.ws.cork(fn);
  }

  subscribe(topic: string): void {
    this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    this.ws.unsubscribe(topic);
  }

  ping(): void {
    this.ws.ping();
  }

  end(code: number, reason: string): void {
    this.ws.end(code, reason);
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * Attaches the WebSocket endpoint: a thin adapter from uWS's handlers to the session
 * core (src/core/session.ts), which owns everything a connection does.
 */
export function attachWebSocket(app: TemplatedApp, settings: WebSocketSettings, deps: WebSocketDeps): void {
  const { sessions, metrics } = deps;
  app.ws<SocketData>(settings.path, {
    maxPayloadLength: settings.maxMessageBytes,
    // Above the soft limit a client has WriteTimeout to catch up (see the session's
    // sweep); the hard limit stops one client from holding unbounded memory meanwhile.
    maxBackpressure: 2 * settings.maxBackpressure + settings.maxMessageBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: settings.idleTimeoutSeconds,
    // The session pings quiet connections every HeartbeatInterval; uWS's own pings
    // would add a second, unconfigurable cadence.
    sendPingsAutomatically: false,
    compression: settings.compression ? uws.SHARED_COMPRESSOR : uws.DISABLED,

    upgrade: (res, req, context) => upgrade(res, req, context, deps),

    open: (ws) => {
      const { conn, refusal } = ws.getUserData();
      if (conn !== undefined) {
        sessions.opened(conn, new UwsClientSocket(ws, metrics));
        return;
      }
      // A refused browser upgrade: never a session (no hub, no presence), just the close.
      metrics.inc('upgrades_refused_in_band_total');
      ws.end(refusal!.code, refusal!.reason);
    },

    // The ArrayBuffer is valid only during this call; `frame` decodes synchronously and copies what it keeps.
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().conn;
      if (conn !== undefined) sessions.frame(conn, new Uint8Array(message), isBinary);
    },

    drain: (ws) => {
      const conn = ws.getUserData().conn;
      if (conn !== undefined) sessions.drained(conn);
    },

    close: (ws, code) => {
      const conn = ws.getUserData().conn;
      if (conn === undefined) return;
      // uWS drops a connection whose buffer passes the hard limit on a publish without
      // telling anyone: it shows as an abnormal close (1006) of a connection the sweep
      // last saw over the soft limit. (Its buffer can no longer be read here.)
      const socket = conn.socket;
      if (code === 1006 && conn.slowSince >= 0 && socket instanceof UwsClientSocket && !socket.dropped) metrics.inc('backpressure_drops_total');
      sessions.closed(conn, code);
    },
  });
}

/**
 * Connections from one address hold one string for it, not one each (32 bytes per
 * connection; many clients share an address behind NAT, and load generators all do).
 */
const addresses = new SharedValues<string>(4096);

function sharedAddress(ip: string): string {
  return addresses.get(ip, () => ip);
}

/**
 * Completes an upgrade after its handler returned (admission awaited the token check,
 * presence or the broker), inside the cork of another open connection.
 *
 * Why not `res.cork(() => res.upgrade(…))`: in this uWS build, HttpResponse.cork reads
 * the HTTP response state back after its callback, from memory the upgrade has just
 * given to the WebSocket, and when a bit there happens to be set it ends the new
 * socket at once (1006 on both sides; uNetworking/uWebSockets#1928, fixed later
 * upstream). It hit the first connection of a cluster node in about half the bench's
 * runs, where the upgrade completes from a Redis reply. Inside another socket's cork,
 * res.cork only calls back; with that, 0 of 20 runs dropped one. (An admission that
 * settles in the upgrade handler's own microtasks is inside uWS's cork already, where
 * every variant is safe.) With no other connection open, the upgrade runs uncorked:
 * correct, and uWS prints its "must be made from within a corked callback" warning once
 * for it (a cluster node's first connection; documented in the README).
 *
 * The price: the new socket is not corked either way, so uWS sends the 101 response one
 * header fragment per send(), about 21 per upgrade (strace, 1 Dec), which is most of a
 * cluster upgrade's CPU. With a uWS build that has the upstream fix (#1929),
 * `res.cork(run)` is right again and sends it in one.
 */
function upgradeLater(res: HttpResponse, sessions: Sessions, run: () => void): void {
  const anchor = sessions.anySocket();
  // ws.cork alone does not count as a cork callback for uWS's warning; res.cork inside it
  // does, and with another socket corked it only calls back (no read-back after it).
  if (anchor !== undefined) anchor.cork(() => res.cork(run));
  else run();
}

function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, deps: WebSocketDeps): void {
  // Everything from req must be read now: it is only valid during this call.
  const key = req.getHeader('sec-websocket-key');
  const extensions = req.getHeader('sec-websocket-extensions');
  const origin = req.getHeader('origin');
  const request: UpgradeRequest = {
    ip: sharedAddress(deps.proxies.clientAddress(
      Buffer.from(res.getRemoteAddressAsText()).toString(),
      req.getHeader('x-forwarded-for'),
      req.getHeader('x-real-ip'),
    )),
    token: bearerToken(req.getHeader('authorization')) || req.getQuery('token') || '',
    protocolHeader: req.getHeader('sec-websocket-protocol'),
    formatQuery: req.getQuery('format') ?? '',
    origin,
  };
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  // admit() reserves the caps synchronously, before its first await.
  deps.sessions.admit(request, () => aborted).then(
    ({ conn, protocol }) => {
      if (!aborted) {
        // uWS runs `open` inside upgrade().
        upgradeLater(res, deps.sessions, () => res.upgrade<SocketData>({ conn, refusal: undefined }, key, protocol, extensions, context));
      }
      deps.sessions.settleUpgrade(conn);
    },
    (err: GatewayError) => {
      deps.refusals.count(err.code);
      if (aborted) return;
      if (origin === '') {
        sendError(res, err, true);
        return;
      }
      // A page never sees an HTTP status of a refused WebSocket upgrade (only error and
      // close 1006), so for browsers the upgrade completes and the refusal arrives as
      // the close code and reason. The subprotocol echoed must be one the page offered,
      // or the browser fails the handshake before it reads the close.
      const refusal: Refusal = { code: err.closeCode, reason: closeReason(err.message) };
      const offered = request.protocolHeader.split(',')[0]!.trim();
      upgradeLater(res, deps.sessions, () => res.upgrade<SocketData>({ conn: undefined, refusal }, key, offered, '', context));
    },
  );
}