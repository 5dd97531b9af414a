/**
 * Peer `socketio`: Socket.IO 4 with the WebSocket transport only and its default JSON
 * parser, what most Node teams pick. Events mirror the minimal protocol (see common.ts);
 * every acknowledged event answers `{id, status}` through Socket.IO's own ack callback.
 * Rooms are Socket.IO rooms; direct messages go to the room `u:<user>`.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { exitOnSignals, groupOut, messageOut, nextMid, peerEnv } from './common.js';

const { host, port } = peerEnv();

const server = createServer((req, res) => {
  if (req.url === '/healthz') res.end('ok');
  else if (!req.url?.startsWith('/socket.io/')) {
    res.statusCode = 404;
    res.end();
  }
});
const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 64 * 1024 });

type Ack = ((answer: Record<string, unknown>) => void) | undefined;
type Payload = Record<string, unknown> | undefined;

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

io.on('connection', (socket) => {
  const auth = socket.handshake.auth as Record<string, unknown>;
  const user = str(auth.user) ?? 'anonymous';
  void socket.join(`u:${user}`);
  const reply = (ack: Ack, id: unknown, answer: Record<string, unknown>) => {
    if (typeof ack === 'function') ack({ id, ...answer });
  };
  const bad = (ack: Ack, d: Payload, what: string) =>
    reply(ack, d?.id, { status: 'error', code: 'BAD_REQUEST', message: `malformed ${what}` });

  socket.on('join', (d: Payload, ack: Ack) => {
    const group = str(d?.group);
    if (!group) return bad(ack, d, 'join');
    void socket.join(group);
    reply(ack, d?.id, { status: 'ok' });
  });
  socket.on('group', (d: Payload, ack: Ack) => {
    const group = str(d?.group);
    if (!group) return bad(ack, d, 'group');
    const out = groupOut(user, group, d?.content);
    io.to(group).emit('group', out.data);
    reply(ack, d?.id, { mid: out.data.mid, status: 'ok', timestamp: Date.now() });
  });
  socket.on('message', (d: Payload, ack: Ack) => {
    const to = str(d?.to);
    if (!to) return bad(ack, d, 'message');
    const out = messageOut(user, to, d?.content);
    io.to(`u:${to}`).emit('message', out.data);
    reply(ack, d?.id, { mid: out.data.mid, status: 'delivered', timestamp: Date.now() });
  });
  socket.on('ping', (d: Payload, ack: Ack) => reply(ack, d?.id, { status: 'pong', mid: nextMid() }));
});

server.listen(port, host, () => console.log(`socketio listening on ${host}:${port}`));
server.on('error', (err) => {
  console.error(`socketio: ${err.message}`);
  process.exit(1);
});
exitOnSignals(() => {
  void io.close();
});
