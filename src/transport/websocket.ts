import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { ClientSocket } from '../core/client-socket.js';
import type { Connection } from '../core/connection.js';
import { bearerToken } from '../core/auth.js';
import type { Sessions } from '../core/session.js';
import type { GatewayError } from '../errors.js';
import uws from './uws.js';
import { sendError } from './http.js';

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
  readonly conn: Connection;
}

/**
 * uWS's WebSocket as the core's ClientSocket. One small object per connection: the
 * core never sees uWS types, and a closed uWS socket (which throws on any access) is
 * never reached because the core drops the socket on close.
 */
class UwsClientSocket implements ClientSocket {
  constructor(private readonly ws: WebSocket<SocketData>) {}

  send(bytes: Uint8Array | string, binary: boolean): boolean {
    // 1: sent, 0: queued over the soft limit (still delivered), 2: dropped at the hard limit.
    return this.ws.send(bytes, binary) !== 2;
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
export function attachWebSocket(app: TemplatedApp, settings: WebSocketSettings, sessions: Sessions): void {
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

    upgrade: (res, req, context) => upgrade(res, req, context, sessions),

    open: (ws) => sessions.opened(ws.getUserData().conn, new UwsClientSocket(ws)),

    // The ArrayBuffer is valid only during this call; `frame` decodes synchronously and copies what it keeps.
    message: (ws, message, isBinary) => sessions.frame(ws.getUserData().conn, new Uint8Array(message), isBinary),

    drain: (ws) => sessions.drained(ws.getUserData().conn),

    close: (ws, code) => sessions.closed(ws.getUserData().conn, code),
  });
}

function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, sessions: Sessions): void {
  // Everything from req must be read now: it is only valid during this call.
  const key = req.getHeader('sec-websocket-key');
  const extensions = req.getHeader('sec-websocket-extensions');
  const request = {
    ip: Buffer.from(res.getRemoteAddressAsText()).toString(),
    token: bearerToken(req.getHeader('authorization')) || req.getQuery('token') || '',
    protocolHeader: req.getHeader('sec-websocket-protocol'),
    formatQuery: req.getQuery('format') ?? '',
  };
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  // admit() reserves the caps synchronously, before its first await.
  sessions.admit(request, () => aborted).then(
    ({ conn, protocol }) => {
      if (!aborted) {
        // uWS runs `open` inside upgrade().
        res.cork(() => res.upgrade<SocketData>({ conn }, key, protocol, extensions, context));
      }
      sessions.settleUpgrade(conn);
    },
    (err: GatewayError) => {
      if (!aborted) sendError(res, err, true);
    },
  );
}
