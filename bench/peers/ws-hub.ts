/**
 * Peer `ws-hub`: the `ws` package with a hand-written room map, what a typical Node team
 * writes. Each group send encodes once and calls `send` per member.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { pack, unpack } from 'msgpackr';
import { ackOut, asEnvelope, errorOut, exitOnSignals, groupOut, messageOut, peerEnv } from './common.js';

const { host, port } = peerEnv();
const rooms = new Map<string, Set<WebSocket>>();
const users = new Map<string, Set<WebSocket>>();

function add(map: Map<string, Set<WebSocket>>, key: string, ws: WebSocket): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(ws);
}

function remove(map: Map<string, Set<WebSocket>>, key: string, ws: WebSocket): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) map.delete(key);
}

function sendAll(members: Set<WebSocket> | undefined, frame: Buffer): void {
  if (!members) return;
  for (const m of members) m.send(frame, { binary: true });
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') res.end('ok');
  else {
    res.statusCode = 404;
    res.end();
  }
});
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  const user = new URL(req.url ?? '/', 'http://peer').searchParams.get('user') || 'anonymous';
  const joined = new Set<string>();
  add(users, user, ws);
  ws.on('close', () => {
    remove(users, user, ws);
    for (const g of joined) remove(rooms, g, ws);
  });
  ws.on('error', (err) => console.error(`ws-hub: ${user}: ${err.message}`));
  ws.on('message', (raw: RawData) => {
    let env;
    try {
      env = asEnvelope(unpack(raw as Buffer));
    } catch (err) {
      ws.send(pack(errorOut(undefined, 'BAD_REQUEST', (err as Error).message)));
      return;
    }
    if (!env) {
      ws.send(pack(errorOut(undefined, 'BAD_REQUEST', 'not an envelope')));
      return;
    }
    const d = env.data ?? {};
    switch (env.type) {
      case 'join': {
        const group = str(d.group);
        if (!group) break;
        joined.add(group);
        add(rooms, group, ws);
        ws.send(pack(ackOut(env.id, { status: 'ok' })));
        return;
      }
      case 'group': {
        const group = str(d.group);
        if (!group) break;
        const out = groupOut(user, group, d.content);
        sendAll(rooms.get(group), pack(out));
        ws.send(pack(ackOut(env.id, { mid: out.data.mid, status: 'ok' })));
        return;
      }
      case 'message': {
        const to = str(d.to);
        if (!to) break;
        const out = messageOut(user, to, d.content);
        sendAll(users.get(to), pack(out));
        ws.send(pack(ackOut(env.id, { mid: out.data.mid, status: 'delivered' })));
        return;
      }
      case 'ping':
        ws.send(pack({ type: 'pong', id: env.id, data: { timestamp: Date.now() } }));
        return;
      case 'ack':
        return;
    }
    ws.send(pack(errorOut(env.id, 'BAD_REQUEST', `unsupported or malformed ${env.type}`)));
  });
});

server.listen(port, host, () => console.log(`ws-hub listening on ${host}:${port}`));
server.on('error', (err) => {
  console.error(`ws-hub: ${err.message}`);
  process.exit(1);
});
exitOnSignals(() => server.close());
