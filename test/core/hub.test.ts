import t from 'tap';
import { pino } from 'pino';
import { Hub } from '../../src/core/hub.js';
import { createConnection, type Connection } from '../../src/core/connection.js';
import { encodeMsgpack } from '../../src/protocol/codec.js';
import { ControlledBroker, FakeFanout, type FakeSocket } from '../helpers/fake-socket.js';
import { Clock } from '../helpers/core.js';
import { RecordingBroker } from '../helpers/recording-broker.js';

const log = pino({ level: 'silent' });

function setup(t: { teardown(fn: () => unknown): void }, lingerMs = 1000) {
  const fanout = new FakeFanout();
  const broker = new ControlledBroker();
  const clock = new Clock();
  const hub = new Hub({ fanout, broker, nodeId: 'n1', log, lingerMs, now: clock.now });
  t.teardown(() => hub.stop());
  let n = 0;
  const open = (userId: string, format: 'json' | 'msgpack' = 'json'): { conn: Connection; socket: FakeSocket } => {
    const conn = createConnection({ id: `c${++n}`, principal: { userId, groups: [], perms: new Set(), publish: [], contacts: new Set<string>() }, format, ip: '1.1.1.1', log }, { messagesPerSecond: 1, burst: 1 }, 0);
    const socket = fanout.socket();
    conn.socket = socket;
    conn.phase = 'open';
    return { conn, socket };
  };
  const close = (c: { conn: Connection; socket: FakeSocket }): number => {
    c.socket.dropTopics();
    c.conn.socket = undefined;
    c.conn.phase = 'closed';
    return hub.remove(c.conn);
  };
  return { fanout, broker, clock, hub, open, close };
}

t.test('subscribe resolves only when the broker confirmed; later subscribers wait for the same confirmation', async (t) => {
  const { broker, hub, open } = setup(t);
  broker.autoConfirm = () => false;
  const a = open('a');
  const b = open('b', 'msgpack');
  let first = false;
  let second = false;
  const pa = hub.subscribe(a.conn, 'g:x').then(() => (first = true));
  const pb = hub.subscribe(b.conn, 'g:x').then(() => (second = true));
  // The broker's answer is what settles them: until it comes, neither may be settled.
  const raced = await Promise.race([pa.then(() => 'settled'), Promise.resolve().then(() => 'pending')]);
  t.equal(raced, 'pending');
  t.notOk(first || second, 'nobody is told subscribed before the broker confirmed');
  t.equal(broker.calls.filter((c) => c.topic === 'g:x').length, 1, 'one broker subscription for both formats');
  broker.confirm('g:x');
  await Promise.all([pa, pb]);
  t.ok(first && second, 'both confirmed together');
  t.ok(a.socket.topics.has('g:x|j') && b.socket.topics.has('g:x|m'), 'each socket on its format topic');
  t.equal(hub.localSubscribers('g:x'), 2);
});

t.test('a refused subscription rejects every waiter; the next subscriber tries again', async (t) => {
  const { broker, hub, open } = setup(t);
  const a = open('a');
  const b = open('b');
  const pa = hub.subscribe(a.conn, 'g:x');
  const pb = hub.subscribe(b.conn, 'g:x');
  broker.refuse('g:x');
  await t.rejects(pa, { code: 'UNAVAILABLE' });
  await t.rejects(pb, { code: 'UNAVAILABLE' });
  // A new subscriber while the two have not rolled back yet must not be told "subscribed".
  const c = open('c');
  const pc = hub.subscribe(c.conn, 'g:x');
  t.ok(broker.waiting('g:x'), 'subscribed again on the broker');
  broker.confirm('g:x');
  await pc;
  hub.unsubscribe(a.conn, 'g:x');
  hub.unsubscribe(b.conn, 'g:x');
  t.equal(hub.localSubscribers('g:x'), 1);
});

t.test('the last subscriber leaving: the broker keeps the topic for lingerMs, then drops it', async (t) => {
  const { broker, clock, hub, open, close } = setup(t, 1000);
  broker.autoConfirm = () => true;
  const a = open('alice');
  await hub.add(a.conn);
  t.ok(broker.subscribed.has('u:alice') && broker.subscribed.has('all'));
  const leftAt = clock.t;
  t.equal(close(a), 0, 'no connection of alice left');
  t.equal(hub.localSubscribers('u:alice'), 0);
  hub.endLingering(leftAt + 999);
  t.ok(broker.subscribed.has('u:alice'), 'still subscribed within the linger');

  // Alice reconnects within the linger: no broker round trip, confirmed at once.
  const again = open('alice');
  const subscribesBefore = broker.calls.filter((c) => c.op === 'subscribe').length;
  await hub.add(again.conn);
  t.equal(broker.calls.filter((c) => c.op === 'subscribe').length, subscribesBefore, 'no new broker subscription');
  hub.endLingering(leftAt + 5000);
  t.ok(broker.subscribed.has('u:alice'), 'a topic with a subscriber again never lapses');

  const secondLeave = clock.advance(10);
  close(again);
  hub.endLingering(secondLeave + 999);
  t.ok(broker.subscribed.has('u:alice'), 'the linger starts again from the second leave');
  hub.endLingering(secondLeave + 1000);
  t.notOk(broker.subscribed.has('u:alice'), 'dropped after the linger');
  t.notOk(broker.subscribed.has('all'));
});

t.test('remove drops interest in every topic of the connection (groups and watches too)', async (t) => {
  const { broker, hub, open, close } = setup(t, 0);
  broker.autoConfirm = () => true;
  const a = open('a');
  await hub.add(a.conn);
  a.conn.groups.add('room');
  await hub.subscribe(a.conn, 'g:room');
  a.conn.watching.add('bob');
  await hub.subscribe(a.conn, 'p:bob');
  close(a);
  for (const topic of ['u:a', 'all', 'g:room', 'p:bob']) {
    t.equal(hub.localSubscribers(topic), 0, `${topic}: no local interest`);
    t.notOk(broker.subscribed.has(topic), `${topic}: unsubscribed at once without a linger`);
  }
  hub.unsubscribe(a.conn, 'g:room');
  t.equal(hub.localSubscribers('g:room'), 0, 'a late unsubscribe of a closed connection changes nothing');
});

t.test('frames from other nodes fan out once per format; own echoes are dropped', async (t) => {
  const { broker, hub, open } = setup(t);
  broker.autoConfirm = () => true;
  const j = open('j', 'json');
  const m = open('m', 'msgpack');
  await Promise.all([hub.add(j.conn), hub.add(m.conn)]);
  const frame = { type: 'broadcast', data: { mid: 'x', from: 'ops', content: 'hi', timestamp: 1 } };
  broker.inject({ topic: 'all', payload: encodeMsgpack(frame), origin: 'n1' });
  broker.inject({ topic: 'all', payload: encodeMsgpack(frame), origin: 'n2' });
  t.same(j.socket.ofType('broadcast').map((f) => f.data.mid), ['x'], 'json client: once (own echo dropped)');
  t.same(m.socket.ofType('broadcast').map((f) => f.data.mid), ['x'], 'msgpack client: once');
  await hub.publish('all', { type: 'broadcast', data: { mid: 'y', from: 'me', content: 1, timestamp: 2 } });
  t.equal(broker.published.length, 1, 'a local publish is forwarded to other nodes once');
  t.equal(j.socket.ofType('broadcast').length, 2);
});

t.test('publish says how far a frame went: local sockets plus other nodes, not counting its own subscription', async (t) => {
  const { broker, hub, open } = setup(t);
  broker.autoConfirm = () => true;
  const frame = { type: 'broadcast' as const, data: { mid: 'x', from: 'ops', content: 1, timestamp: 1 } };
  t.equal(await hub.publish('u:nobody', { ...frame }), 0, 'nobody anywhere');
  broker.receivers = 2;
  t.equal(await hub.publish('u:nobody', { ...frame }), 2, 'two other nodes');
  const a = open('a');
  const b = open('b', 'msgpack');
  await Promise.all([hub.add(a.conn), hub.add(b.conn)]);
  broker.receivers = 1; // only this node's own subscription
  t.equal(await hub.publish('all', { ...frame }), 2, 'two local sockets; the own broker subscription is not another node');
});

t.test("a user's connections: one, then several (oldest first), then one again, then none", async (t) => {
  const { hub, open, close } = setup(t);
  const a1 = open('u');
  void hub.add(a1.conn);
  t.same(hub.userConnections('u'), [a1.conn]);
  t.equal(hub.userConnectionCount('u'), 1);
  t.equal(hub.userCount, 1);
  const a2 = open('u');
  const a3 = open('u');
  void hub.add(a2.conn);
  void hub.add(a3.conn);
  t.same(hub.userConnections('u').map((c) => c.id), [a1.conn.id, a2.conn.id, a3.conn.id], 'oldest first');
  t.equal(hub.userConnectionCount('u'), 3);
  t.equal(close(a1), 2, 'remove answers the remaining count');
  t.equal(close(a3), 1);
  t.same(hub.userConnections('u'), [a2.conn], 'back to the single connection');
  const a4 = open('u');
  void hub.add(a4.conn);
  t.same(hub.userConnections('u').map((c) => c.id), [a2.conn.id, a4.conn.id], 'grows again in order');
  t.equal(close(a2), 1);
  t.equal(close(a4), 0);
  t.equal(close(a4), 0, 'removing twice changes nothing');
  t.same(hub.userConnections('u'), []);
  t.equal(hub.userConnectionCount('u'), 0);
  t.equal(hub.userCount, 0);
});

t.test('a broker that spans no nodes: user topics reach the sockets without being counted or subscribed on the broker', async (t) => {
  const fanout = new FakeFanout();
  const broker = new RecordingBroker();
  const hub = new Hub({ fanout, broker, nodeId: 'n1', log, now: new Clock().now });
  t.teardown(() => hub.stop());
  let n = 0;
  const open = (userId: string, format: 'json' | 'msgpack'): { conn: Connection; socket: FakeSocket } => {
    const conn = createConnection({ id: `c${++n}`, principal: { userId, groups: [], perms: new Set(), publish: [], contacts: new Set<string>() }, format, ip: '1.1.1.1', log }, { messagesPerSecond: 1, burst: 1 }, 0);
    const socket = fanout.socket();
    conn.socket = socket;
    conn.phase = 'open';
    return { conn, socket };
  };
  const frame = { type: 'broadcast' as const, data: { mid: 'x', from: 'ops', content: 1, timestamp: 1 } };
  t.equal(await hub.publish('u:a', { ...frame }), 0, 'nobody yet');

  const j = open('a', 'json');
  const m = open('a', 'msgpack');
  await Promise.all([hub.add(j.conn), hub.add(m.conn)]);
  t.ok(j.socket.topics.has('u:a|j') && m.socket.topics.has('u:a|m'), 'each socket on its format topic');
  t.notOk(broker.topics.has('u:a'), 'no broker subscription for the user topic');
  t.ok(broker.topics.has('all'), 'the broadcast topic is still counted and subscribed');
  t.equal(hub.localSubscribers('u:a'), 2, 'answered from the registry');
  t.equal(await hub.publish('u:a', { ...frame }), 2, 'both sockets reached');
  t.equal(j.socket.ofType('broadcast').length + m.socket.ofType('broadcast').length, 2);

  const release = await hub.retain('u:a');
  t.notOk(broker.topics.has('u:a'), 'holding a user topic asks the broker nothing');
  release();
  t.equal(hub.localSubscribers('u:a'), 2, 'nor changes its count');

  j.socket.dropTopics();
  j.conn.socket = undefined;
  j.conn.phase = 'closed';
  t.equal(hub.remove(j.conn), 1);
  t.equal(hub.localSubscribers('u:a'), 1);
  m.socket.dropTopics();
  m.conn.socket = undefined;
  m.conn.phase = 'closed';
  t.equal(hub.remove(m.conn), 0);
  t.equal(hub.localSubscribers('u:a'), 0);
  t.equal(await hub.publish('u:a', { ...frame }), 0, 'nobody left');
  t.notOk(broker.topics.has('all'), 'broadcast unsubscribed with the last connection');
});
