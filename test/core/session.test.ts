import t from 'tap';
import { createCore } from '../helpers/core.js';
import { ControlledBroker, type FakeSocket } from '../helpers/fake-socket.js';
import { GatewayError } from '../../src/errors.js';
import type { PresenceStore } from '../../src/engine/presence.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { READY, createConnection } from '../../src/core/connection.js';

const IP = '10.0.0.1';

/** The refusal an admit() ended with (or a failure of the test when it was admitted). */
async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('admitted, expected a refusal');
}

function request(token: string, extra: Partial<{ ip: string; protocolHeader: string; formatQuery: string }> = {}) {
  return { ip: IP, token, protocolHeader: '', formatQuery: '', ...extra };
}

t.test('admit, open and settle: the connection is registered, subscribed and its reservations end', async (t) => {
  const core = createCore();
  const { conn, socket } = await core.open('alice');
  t.equal(conn.phase, 'open');
  t.equal(core.hub.get(conn.id), conn, 'the hub holds it');
  t.ok(socket.topics.has('u:alice|j') && socket.topics.has('all|j'), 'subscribed to its user topic and broadcast in its format');
  t.equal(core.admission.pending, 0, 'no upgrade reservation left');
  t.equal(core.ipGuard.held(IP), 1, 'the address holds one slot: the open connection');
  t.equal((await core.store.get(['alice'])).get('alice')?.connections, 1, 'registered in presence');
  t.equal(core.metrics.get('connections_current'), 1);
});

t.test('every failure path at the upgrade releases what it took', async (t) => {
  t.test('unsupported format: refused before anything is reserved', async (t) => {
    const core = createCore();
    const err = await refusal(core.sessions.admit(request('alice', { protocolHeader: 'mqtt' }), () => false));
    t.equal(err.code, 'BAD_REQUEST');
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
    t.equal(core.metrics.get('upgrades_rejected_total'), 1);
  });

  t.test('address over its upgrade rate', async (t) => {
    const core = createCore({ upgradesPerSecondPerIp: 1 });
    await core.open('a');
    const err = await refusal(core.sessions.admit(request('b'), () => false));
    t.equal(err.code, 'RATE_LIMITED');
    t.ok(typeof err.details?.['retryAfterMs'] === 'number', 'says when to retry');
    t.equal(core.ipGuard.held(IP), 1, 'only the open connection holds a slot');
    t.equal(core.admission.pending, 0);
  });

  t.test('address at its connection cap', async (t) => {
    const core = createCore({ maxConnPerIp: 1 });
    await core.open('a');
    const err = await refusal(core.sessions.admit(request('b'), () => false));
    t.equal(err.code, 'TOO_MANY_CONNECTIONS');
    t.equal(core.ipGuard.held(IP), 1);
    t.equal(core.admission.pending, 0);
  });

  t.test('node full: the address slot taken a moment before is given back', async (t) => {
    const core = createCore({ maxConn: 1 });
    await core.open('a', { ip: '10.0.0.9' });
    const err = await refusal(core.sessions.admit(request('b'), () => false));
    t.equal(err.code, 'SERVER_FULL');
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
  });

  t.test('bad token', async (t) => {
    const core = createCore();
    const err = await refusal(core.sessions.admit(request('bad'), () => false));
    t.equal(err.code, 'UNAUTHORIZED');
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
  });

  t.test('client gone during the token check: nothing registered', async (t) => {
    const core = createCore();
    const release = core.auth.hold('alice');
    let aborted = false;
    const admitting = core.sessions.admit(request('alice'), () => aborted);
    t.equal(core.ipGuard.held(IP), 1, 'the slot is reserved while the token is checked');
    t.equal(core.admission.pending, 1);
    aborted = true;
    release();
    const err = await refusal(admitting);
    t.equal(err.code, 'BAD_REQUEST');
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
    t.equal((await core.store.get(['alice'])).get('alice')?.connections, 0, 'never registered in presence');
  });

  t.test('per-user limit reached (policy reject)', async (t) => {
    const core = createCore({ maxConnPerUser: 1 });
    await core.open('alice', { ip: '10.0.0.9' });
    const err = await refusal(core.sessions.admit(request('alice'), () => false));
    t.equal(err.code, 'TOO_MANY_CONNECTIONS');
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
    t.equal((await core.store.get(['alice'])).get('alice')?.connections, 1, 'only the first connection is registered');
  });

  t.test('client gone during the presence registration: the registration is undone', async (t) => {
    let aborted = false;
    // A store that lets the client go away while it registers.
    class AbortingStore extends MemoryPresenceStore {
      override async connect(...args: Parameters<PresenceStore['connect']>) {
        const result = await super.connect(...args);
        aborted = true;
        return result;
      }
    }
    const store = new AbortingStore();
    const inner = store;
    const core = createCore({ presenceStore: store });
    const err = await refusal(core.sessions.admit(request('alice'), () => aborted));
    t.equal(err.code, 'BAD_REQUEST');
    await core.presence.idle();
    await waitFor(async () => (await inner.get(['alice'])).get('alice')?.connections === 0);
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
  });

  t.test('presence store unreachable: admitted on the local per-user limit, released on every path', async (t) => {
    class DownStore extends MemoryPresenceStore {
      override async connect(): Promise<never> {
        throw new GatewayError('UNAVAILABLE');
      }
    }
    const store = new DownStore();
    const core = createCore({ presenceStore: store, maxConnPerUser: 1 });
    const first = await core.sessions.admit(request('alice'), () => false);
    t.equal(first.conn.localReservation, true, 'the per-user slot is reserved locally');
    const err = await refusal(core.sessions.admit(request('alice'), () => false));
    t.equal(err.code, 'TOO_MANY_CONNECTIONS', 'the local fallback applies the limit to upgrades in flight');
    // The client of the first goes away before its socket opens.
    core.sessions.settleUpgrade(first.conn);
    t.equal(first.conn.phase, 'closed');
    t.equal(core.admission.pending, 0);
    t.equal(core.ipGuard.held(IP), 0);
    const again = await core.sessions.admit(request('alice'), () => false);
    t.equal(again.conn.localReservation, true, 'the user may connect again');
  });

  t.test('admitted but never opened: everything is undone', async (t) => {
    const core = createCore();
    const { conn } = await core.sessions.admit(request('alice'), () => false);
    t.equal((await core.store.get(['alice'])).get('alice')?.connections, 1);
    core.sessions.settleUpgrade(conn);
    t.equal(conn.phase, 'closed');
    t.equal(core.ipGuard.held(IP), 0);
    t.equal(core.admission.pending, 0);
    t.equal(core.metrics.get('upgrades_rejected_total'), 1);
    await waitFor(async () => (await core.store.get(['alice'])).get('alice')?.connections === 0);
  });
  t.end();
});

t.test('concurrent upgrades from one address never pass its cap', async (t) => {
  const core = createCore({ maxConnPerIp: 10 });
  const releases = Array.from({ length: 200 }, (_, i) => core.auth.hold(`u${i}`));
  const attempts = Array.from({ length: 200 }, (_, i) => core.sessions.admit(request(`u${i}`), () => false));
  t.equal(core.ipGuard.held(IP), 10, 'ten slots reserved while the tokens are checked');
  for (const release of releases) release();
  const results = await Promise.allSettled(attempts);
  const admitted = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.equal(admitted.length, 10);
  t.ok(refused.every((r) => (r.reason as GatewayError).code === 'TOO_MANY_CONNECTIONS'), 'the rest are TOO_MANY_CONNECTIONS');
});

t.test('the user topic is confirmed on the broker before the socket opens; then the user is announced and replayed', async (t) => {
  const broker = new ControlledBroker();
  broker.autoConfirm = (topic) => topic !== 'u:bob';
  const core = createCore({ broker });
  await core.inbox.append('bob', { mid: 'm1', from: 'alice', to: 'bob', content: 'while you were away', timestamp: Date.now() });
  const watcher = await core.open('carol');
  await core.send(watcher.conn, { type: 'watch', id: 'w', data: { users: ['bob'] } });

  let admitted = false;
  const admitting = core.sessions.admit(request('bob'), () => false).then((a) => {
    admitted = true;
    return a;
  });
  await waitFor(() => broker.waiting('u:bob'));
  t.notOk(admitted, 'not admitted while the user topic subscription is pending');
  t.equal(core.hub.localSubscribers('u:bob'), 1, 'the upgrade holds the topic meanwhile');
  t.equal(watcher.socket.ofType('status').length, 0, 'not announced before confirmation');
  broker.confirm('u:bob');
  const { conn } = await admitting;
  const socket = core.fanout.socket();
  core.sessions.opened(conn, socket);
  core.sessions.settleUpgrade(conn);
  t.equal(core.hub.localSubscribers('u:bob'), 1, 'the socket\'s own subscription took over from the hold');
  t.not(conn.ready, READY, 'the open-time work is under way');
  await conn.ready;
  t.same(socket.ofType('message').map((f) => f.data.content), ['while you were away'], 'replayed');
  t.same(watcher.socket.ofType('status').map((f) => f.data.status), ['online'], 'announced');
  t.equal(conn.ready, READY, 'once done, the connection holds the shared settled promise, not its own');
});

t.test('a live message sent the moment a connection opens waits behind the replay of the stored ones', async (t) => {
  const core = createCore();
  for (let i = 1; i <= 3; i++) await core.inbox.append('bob', { mid: `s${i}`, from: 'alice', to: 'bob', content: `stored ${i}`, timestamp: Date.now() });
  const { conn } = await core.sessions.admit(request('bob'), () => false);
  const socket = core.fanout.socket();
  core.sessions.opened(conn, socket);
  core.sessions.settleUpgrade(conn);
  // In the same turn as the open: before any open-time work has run.
  const live = core.messaging.direct('alice', 'bob', 'live');
  await Promise.all([live, conn.ready]);
  t.same(socket.ofType('message').map((f) => f.data.content), ['stored 1', 'stored 2', 'stored 3', 'live'], 'stored ones first, in seq order');
  t.same(socket.ofType('message').map((f) => f.data.seq), [1, 2, 3, 4]);
});

t.test('a refused send during the replay ends the connection with 4000 and nothing is sent past the gap', async (t) => {
  const core = createCore();
  for (let i = 1; i <= 5; i++) await core.inbox.append('bob', { mid: `s${i}`, from: 'alice', to: 'bob', content: `stored ${i}`, timestamp: Date.now() });
  const { conn } = await core.sessions.admit(request('bob'), () => false);
  const socket = core.fanout.socket();
  // uWS refuses a frame past its hard buffer limit; the next one could fit again.
  const send = socket.send.bind(socket);
  let sends = 0;
  socket.send = (bytes, binary) => (++sends === 3 ? false : send(bytes, binary));
  core.sessions.opened(conn, socket);
  core.sessions.settleUpgrade(conn);
  await conn.ready.catch(() => {});
  await waitFor(() => socket.ended !== undefined);
  t.same(socket.ofType('message').map((f) => f.data.seq), [1, 2], 'stops at the refused one: never 4 and 5 after a missing 3');
  t.equal(socket.ended!.code, 4000, 'slow consumer close: the client reconnects and the inbox replays from its last ack');
  t.equal(sends, 3, 'no send attempted after the refusal');
  t.same((await core.inbox.read('bob', 0, 10)).map((e) => e.seq), [1, 2, 3, 4, 5], 'everything still in the inbox');
});

t.test('an upgrade whose user topic the broker refuses is refused with UNAVAILABLE, leaving nothing behind', async (t) => {
  const broker = new ControlledBroker();
  broker.autoConfirm = (topic) => topic !== 'u:bob';
  const core = createCore({ broker });
  const admitting = core.sessions.admit(request('bob'), () => false);
  await waitFor(() => broker.waiting('u:bob'));
  broker.refuse('u:bob');
  const err = await refusal(admitting);
  t.equal(err.code, 'UNAVAILABLE');
  t.equal(err.closeCode, 1013);
  t.equal(core.hub.localSubscribers('u:bob'), 0);
  t.equal(core.ipGuard.held(IP), 0);
  t.equal(core.admission.pending, 0);
  await waitFor(async () => (await core.store.get(['bob'])).get('bob')?.connections === 0);
});

t.test('close releases the connection everywhere', async (t) => {
  const core = createCore();
  const { conn, socket } = await core.open('alice');
  await core.send(conn, { type: 'join', id: 'j', data: { group: 'room' } });
  t.equal(core.hub.localSubscribers('g:room'), 1);
  await core.close(conn, socket);
  t.equal(conn.phase, 'closed');
  t.equal(conn.socket, undefined);
  t.equal(core.hub.size, 0);
  t.equal(core.hub.localSubscribers('u:alice'), 0);
  t.equal(core.hub.localSubscribers('g:room'), 0, 'the group interest is dropped');
  t.equal(core.ipGuard.held(IP), 0);
  t.same((await core.store.members('room', 10)).users, [], 'left its group in presence');
  t.equal((await core.store.get(['alice'])).get('alice')?.connections, 0);
  t.equal(core.metrics.get('connections_current'), 0);
});

t.test('the slow-consumer policy', async (t) => {
  const core = createCore({ maxBackpressure: 1000, writeTimeout: 2000 });
  const { conn, socket } = await core.open('alice');
  const start = core.clock.t;
  socket.buffered = 5000;
  core.sessions.visit(conn, start);
  core.sessions.visit(conn, start + 1999);
  t.equal(socket.ended, undefined, 'over the soft limit for less than WriteTimeout: kept');
  socket.buffered = 10;
  core.sessions.drained(conn);
  core.sessions.visit(conn, start + 2500);
  t.equal(socket.ended, undefined, 'caught up: the clock starts over');
  socket.buffered = 5000;
  core.sessions.visit(conn, start + 3000);
  core.sessions.visit(conn, start + 4999);
  t.equal(socket.ended, undefined);
  core.sessions.visit(conn, start + 5000);
  t.same(socket.ended, { code: 4000, reason: 'slow consumer' }, 'closed with 4000 after WriteTimeout over the limit');
  t.equal(core.metrics.get('slow_consumers_closed_total'), 1);
});

t.test('the heartbeat pings a connection after HeartbeatInterval of quiet', async (t) => {
  const core = createCore({ heartbeatInterval: 1000 });
  const { conn, socket } = await core.open('alice');
  const start = core.clock.t;
  core.sessions.visit(conn, start + 999);
  t.equal(socket.pings, 0);
  core.sessions.visit(conn, start + 1000);
  t.equal(socket.pings, 1, 'pinged');
  core.sessions.visit(conn, start + 1500);
  t.equal(socket.pings, 1, 'not again before another interval');
  core.clock.t = start + 1800;
  await core.send(conn, { type: 'ping', id: 'p' });
  core.sessions.visit(conn, start + 2500);
  t.equal(socket.pings, 1, 'a frame from the client counts as activity');
  core.sessions.visit(conn, start + 2800);
  t.equal(socket.pings, 2);
});

t.test('the sweep visits every connection within one cycle', async (t) => {
  const core = createCore({ heartbeatInterval: 200, writeTimeout: 100_000, maxConn: 1000 });
  const opened: FakeSocket[] = [];
  for (let i = 0; i < 300; i++) opened.push((await core.open(`u${i}`, { ip: `10.0.${i >> 8}.${i & 255}` })).socket);
  const at = core.clock.advance(200);
  // cycle = 100 ms (half the heartbeat), ticks of 50 ms: two ticks cover everyone.
  core.sessions.tick(at);
  t.ok(opened.filter((s) => s.pings === 1).length >= 150, 'the first tick covers half');
  core.sessions.tick(at);
  t.equal(opened.filter((s) => s.pings === 1).length, 300, 'two ticks cover all');
});

t.test('the rate gate', async (t) => {
  t.test('over the rate: RATE_LIMITED with retryAfterMs; sustained abuse closes with 1008', async (t) => {
    const core = createCore({ rate: { messagesPerSecond: 1, burst: 2 } });
    const { conn, socket } = await core.open('alice');
    for (let i = 0; i < 3; i++) await core.send(conn, { type: 'ping', id: `p${i}` });
    t.equal(socket.ofType('pong').length, 2, 'the burst passes');
    const limited = socket.ofType('error');
    t.equal(limited.length, 1);
    t.equal(limited[0]!.data.code, 'RATE_LIMITED');
    t.equal(limited[0]!.id, 'p2', 'answers the refused frame by its id');
    t.ok(limited[0]!.data.retryAfterMs > 0);
    for (let i = 0; i < 25 && socket.ended === undefined; i++) await core.send(conn, { type: 'ping' });
    t.same(socket.ended?.code, 1008, 'sustained abuse ends the connection');
    t.equal(core.metrics.get('frames_rejected_total'), socket.ofType('error').length);
  });

  t.test('malformed frames: an error each, then 1008 after a burst of them', async (t) => {
    const core = createCore();
    const { conn, socket } = await core.open('alice');
    for (let i = 0; i < 10; i++) core.sessions.frame(conn, new TextEncoder().encode('{not json'), false);
    t.equal(socket.ofType('error').length, 10);
    t.equal(socket.ended, undefined, 'ten are tolerated');
    core.sessions.frame(conn, new TextEncoder().encode('{not json'), false);
    t.equal(socket.ended?.code, 1008);
  });
  t.end();
});

t.test('join is answered only once the group topic is confirmed, and rolled back when refused', async (t) => {
  const broker = new ControlledBroker();
  broker.autoConfirm = (topic) => !topic.startsWith('g:');
  const core = createCore({ broker });
  const { conn, socket } = await core.open('alice');

  const joining = core.send(conn, { type: 'join', id: 'j1', data: { group: 'room' } });
  await waitFor(() => broker.waiting('g:room'));
  t.equal(socket.ofType('ack').length, 0, 'no answer while the subscription is pending');
  broker.refuse('g:room');
  await joining;
  const failed = socket.frames.find((f) => f.id === 'j1');
  t.equal(failed?.type, 'error');
  t.equal(failed?.data.code, 'UNAVAILABLE');
  t.notOk(conn.groups.has('room'), 'not a member locally');
  t.notOk(socket.topics.has('g:room|j'), 'the uWS subscription is undone');
  t.equal(core.hub.localSubscribers('g:room'), 0);
  t.same((await core.store.members('room', 10)).users, [], 'not recorded in presence');

  const retry = core.send(conn, { type: 'join', id: 'j2', data: { group: 'room' } });
  await waitFor(() => broker.waiting('g:room'));
  broker.confirm('g:room');
  await retry;
  t.equal(socket.frames.find((f) => f.id === 'j2')?.data.status, 'ok', 'a retry joins for real');
  t.ok(conn.groups.has('room'));
  t.same((await core.store.members('room', 10)).users, ['alice'], 'recorded in presence');
});

t.test('a second join of the same group waits for the first', async (t) => {
  const broker = new ControlledBroker();
  broker.autoConfirm = (topic) => !topic.startsWith('g:');
  const core = createCore({ broker });
  const { conn, socket } = await core.open('alice');
  const first = core.send(conn, { type: 'join', id: 'j1', data: { group: 'room' } });
  const second = core.send(conn, { type: 'join', id: 'j2', data: { group: 'room' } });
  await waitFor(() => broker.waiting('g:room'));
  t.equal(socket.ofType('ack').length, 0, 'neither is answered early');
  broker.confirm('g:room');
  await Promise.all([first, second]);
  t.same(socket.ofType('ack').map((f) => f.id).sort(), ['j1', 'j2']);
  t.equal(broker.calls.filter((c) => c.op === 'subscribe' && c.topic === 'g:room').length, 1, 'one broker subscription');
});

/** Polls a condition on observable state until it holds (bounded by a deadline, never a fixed sleep). */
async function waitFor(check: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise<void>((r) => setImmediate(r));
  }
}

t.test('anySocket: some open connection\'s socket (what the transport corks a late upgrade in), none once all closed', async (t) => {
  const core = createCore();
  t.equal(core.sessions.anySocket(), undefined, 'nothing open');
  const a = await core.open('alice');
  const b = await core.open('bob');
  t.equal(core.sessions.anySocket(), a.socket, 'the first open one');
  await core.close(a.conn, a.socket);
  t.equal(core.sessions.anySocket(), b.socket, 'another once that one closed');
  await core.close(b.conn, b.socket);
  t.equal(core.sessions.anySocket(), undefined, 'none once all closed');
});
