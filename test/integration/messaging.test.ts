import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient, type Format } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

const SEED_MESSAGE_KEYS = ['content', 'epoch', 'from', 'mid', 'seq', 'timestamp', 'to'];

t.test('direct messages in both formats and across formats', async (t) => {
  const { url } = await startGateway(t);
  const pairs: [Format, Format][] = [['json', 'json'], ['msgpack', 'msgpack'], ['json', 'msgpack'], ['msgpack', 'json']];
  for (const [senderFormat, receiverFormat] of pairs) {
    const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }), format: senderFormat });
    const b = await TestClient.connect(url, { token: await token({ sub: 'bob' }), format: receiverFormat, via: 'query', negotiate: 'query' });
    const content = { text: `hello ${senderFormat}→${receiverFormat}`, n: 42, nested: { ok: true, list: [1, 'two', null] } };
    const ack = await a.request({ type: 'message', data: { to: 'bob', content } });
    t.equal(ack.type, 'ack', `${senderFormat}→${receiverFormat}: sender gets an ack`);
    t.equal(ack.data.status, 'delivered');
    t.type(ack.data.mid, 'string');
    const got = await b.next((f) => f.type === 'message');
    t.same(Object.keys(got).sort(), ['data', 'type'], 'envelope has only type and data');
    t.same(Object.keys(got.data).sort(), SEED_MESSAGE_KEYS, 'seed shape plus seq and epoch');
    t.equal(got.data.from, 'alice');
    t.equal(got.data.to, 'bob');
    t.same(got.data.content, content);
    t.equal(got.data.mid, ack.data.mid, 'ack and delivery carry the same mid');
    t.type(got.data.timestamp, 'number');
    b.send({ type: 'ack', data: { upTo: got.data.seq } });
    await a.next((f) => f.type === 'receipt' && f.data.mid === ack.data.mid);
    await a.close();
    await b.close();
  }
});

t.test('a client-supplied from that differs is FORBIDDEN; the same one is fine', async (t) => {
  const { url } = await startGateway(t);
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  const forged = await a.request({ type: 'message', data: { to: 'bob', from: 'mallory', content: 'hi' } });
  t.equal(forged.type, 'error');
  t.equal(forged.data.code, 'FORBIDDEN');
  const honest = await a.request({ type: 'message', data: { to: 'bob', from: 'alice', content: 'hi' } });
  t.equal(honest.type, 'ack');
  t.equal(honest.data.status, 'stored', 'bob has no connection: stored in his inbox');
  await a.close();
});

t.test('every connection of the recipient receives the message', async (t) => {
  const { url } = await startGateway(t);
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  const b1 = await TestClient.connect(url, { token: await token({ sub: 'bob' }) });
  const b2 = await TestClient.connect(url, { token: await token({ sub: 'bob' }), format: 'msgpack' });
  const ack = await a.request({ type: 'message', data: { to: 'bob', content: 'both' } });
  for (const b of [b1, b2]) {
    const m = await b.next((f) => f.type === 'message');
    t.equal(m.data.mid, ack.data.mid);
  }
  await Promise.all([a.close(), b1.close(), b2.close()]);
});

t.test('group of 50: each member receives one message exactly once; non-member refused; leave stops delivery', async (t) => {
  const { url } = await startGateway(t);
  const members: TestClient[] = [];
  for (let i = 0; i < 50; i++) {
    const c = await TestClient.connect(url, { token: await token({ sub: `m${i}`, groups: ['room:*'] }), format: i % 2 ? 'json' : 'msgpack' });
    const joined = await c.request({ type: 'join', data: { group: 'room:1' } });
    t.equal(joined.type, 'ack');
    members.push(c);
  }
  const outsider = await TestClient.connect(url, { token: await token({ sub: 'outsider' }) });
  const refusedJoin = await outsider.request({ type: 'join', data: { group: 'room:1' } });
  t.equal(refusedJoin.data.code, 'FORBIDDEN', 'no claim for room:1: join refused');
  const refusedSend = await outsider.request({ type: 'group', data: { group: 'room:1', content: 'spam' } });
  t.equal(refusedSend.data.code, 'FORBIDDEN', 'non-member may not send');

  const ack = await members[0]!.request({ type: 'group', data: { group: 'room:1', content: { n: 1 } } });
  t.equal(ack.type, 'ack');
  for (const c of members) {
    const m = await c.next((f) => f.type === 'group');
    t.same(Object.keys(m.data).sort(), ['content', 'from', 'group', 'mid', 'timestamp']);
    t.equal(m.data.mid, ack.data.mid);
    t.equal(m.data.from, 'm0');
  }
  // Exactly once: a ping round trip after the message proves nothing else is in flight.
  for (const c of members) {
    await c.request({ type: 'ping' });
    t.equal(c.ofType('group').length, 0, 'no duplicate group frame');
  }

  const leaver = members[1]!;
  t.equal((await leaver.request({ type: 'leave', data: { group: 'room:1' } })).type, 'ack');
  await members[0]!.request({ type: 'group', data: { group: 'room:1', content: { n: 2 } } });
  await members[2]!.next((f) => f.type === 'group' && f.data.content.n === 2);
  await leaver.request({ type: 'ping' });
  t.equal(leaver.ofType('group').length, 0, 'a member who left receives nothing');
  const afterLeave = await leaver.request({ type: 'group', data: { group: 'room:1', content: 'x' } });
  t.equal(afterLeave.data.code, 'FORBIDDEN');
  await Promise.all([...members, outsider].map((c) => c.close()));
});

t.test('open groups from config may be joined by anyone', async (t) => {
  const { url } = await startGateway(t, { Groups: { Open: ['lobby'] } });
  const c = await TestClient.connect(url, { token: await token({ sub: 'u1' }) });
  t.equal((await c.request({ type: 'join', data: { group: 'lobby' } })).type, 'ack');
  t.equal((await c.request({ type: 'join', data: { group: 'lobby2' } })).data.code, 'FORBIDDEN');
  await c.close();
});

t.test('broadcast reaches every connection; without the permission it is refused', async (t) => {
  const { url } = await startGateway(t);
  const admin = await TestClient.connect(url, { token: await token({ sub: 'admin', perms: ['broadcast'] }) });
  const users = await Promise.all([1, 2, 3, 4].map(async (i) => TestClient.connect(url, { token: await token({ sub: `u${i}` }), format: i % 2 ? 'json' : 'msgpack' })));
  const ack = await admin.request({ type: 'broadcast', data: { content: 'maintenance at 5' } });
  t.equal(ack.type, 'ack');
  for (const c of [admin, ...users]) {
    const b = await c.next((f) => f.type === 'broadcast');
    t.same(b.data.content, 'maintenance at 5');
    t.equal(b.data.from, 'admin');
    t.equal(b.data.mid, ack.data.mid);
  }
  const refused = await users[0]!.request({ type: 'broadcast', data: { content: 'nope' } });
  t.equal(refused.data.code, 'FORBIDDEN');
  await Promise.all([admin, ...users].map((c) => c.close()));
});

t.test('application ping answers pong with the server time', async (t) => {
  const { url } = await startGateway(t);
  const c = await TestClient.connect(url, { token: await token({ sub: 'p' }), format: 'msgpack' });
  const before = Date.now();
  const pong = await c.request({ type: 'ping', id: 'x1' });
  t.equal(pong.type, 'pong');
  t.equal(pong.id, 'x1');
  t.ok(pong.data.timestamp >= before - 1000 && pong.data.timestamp <= Date.now() + 1000);
  await c.close();
});
