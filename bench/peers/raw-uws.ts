/**
 * Peer `raw-uws`: a bare uWebSockets.js pub/sub server with no auth, limits or features:
 * decode the frame, publish one encoded frame to a topic. It marks the practical limit
 * of this machine for the same protocol. Also serves POST /push ({to, content}) as the
 * baseline for the `http` scenario.
 */
import uWS from 'uWebSockets.js';
import { pack, unpack } from 'msgpackr';
import { ackOut, asEnvelope, errorOut, exitOnSignals, groupOut, messageOut, peerEnv } from './common.js';

interface UserData {
  user: string;
}

const { host, port } = peerEnv();
const app = uWS.App();

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

app.ws<UserData>('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  maxBackpressure: 64 * 1024 * 1024,
  upgrade(res, req, context) {
    const user = req.getQuery('user') || 'anonymous';
    res.upgrade<UserData>(
      { user },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open(ws) {
    ws.subscribe(`u:${ws.getUserData().user}`);
  },
  message(ws, message) {
    const user = ws.getUserData().user;
    let env;
    try {
      env = asEnvelope(unpack(new Uint8Array(message)));
    } catch (err) {
      ws.send(pack(errorOut(undefined, 'BAD_REQUEST', (err as Error).message)), true);
      return;
    }
    if (!env) {
      ws.send(pack(errorOut(undefined, 'BAD_REQUEST', 'not an envelope')), true);
      return;
    }
    const d = env.data ?? {};
    switch (env.type) {
      case 'join': {
        const group = str(d.group);
        if (!group) break;
        ws.subscribe(`g:${group}`);
        ws.send(pack(ackOut(env.id, { status: 'ok' })), true);
        return;
      }
      case 'group': {
        const group = str(d.group);
        if (!group) break;
        const out = groupOut(user, group, d.content);
        app.publish(`g:${group}`, pack(out), true);
        ws.send(pack(ackOut(env.id, { mid: out.data.mid, status: 'ok' })), true);
        return;
      }
      case 'message': {
        const to = str(d.to);
        if (!to) break;
        const out = messageOut(user, to, d.content);
        app.publish(`u:${to}`, pack(out), true);
        ws.send(pack(ackOut(env.id, { mid: out.data.mid, status: 'delivered' })), true);
        return;
      }
      case 'ping':
        ws.send(pack({ type: 'pong', id: env.id, data: { timestamp: Date.now() } }), true);
        return;
      case 'ack':
        return;
    }
    ws.send(pack(errorOut(env.id, 'BAD_REQUEST', `unsupported or malformed ${env.type}`)), true);
  },
});

app.get('/healthz', (res) => {
  res.end('ok');
});

app.post('/push', (res) => {
  const chunks: Buffer[] = [];
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast || aborted) return;
    let body: { to?: unknown; content?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch (err) {
      res.cork(() => res.writeStatus('400 Bad Request').end(JSON.stringify({ code: 'BAD_REQUEST', message: (err as Error).message })));
      return;
    }
    const to = str(body.to);
    if (!to) {
      res.cork(() => res.writeStatus('400 Bad Request').end('{"code":"BAD_REQUEST","message":"to is required"}'));
      return;
    }
    const out = messageOut('http', to, body.content);
    app.publish(`u:${to}`, pack(out), true);
    res.cork(() => res.writeHeader('content-type', 'application/json').end(JSON.stringify({ mid: out.data.mid, status: 'delivered' })));
  });
});

let listenSocket: uWS.us_listen_socket | null = null;
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`raw-uws: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = token;
  console.log(`raw-uws listening on ${host}:${port}`);
});
exitOnSignals(() => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
});
