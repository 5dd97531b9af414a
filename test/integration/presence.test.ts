import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

const GRACE = 400;

/** Polls observable state until it holds, with a deadline (never a fixed sleep). */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const isStatusOf = (user: string, status?: string) => (f: Frame) =>
  f.type === 'status' && f.data.userId === user && (status === undefined || f.data.status === status);

t.test('watchers see online, away, no flapping on a quick reconnect, and offline once after the grace', async (t) => {
  const { url, gateway } = await startGateway(t, { Presence: { OfflineGrace: `${GRACE}ms` } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  t.equal((await a.request({ type: 'watch', data: { users: ['bob'] } })).type, 'ack');

  const bobToken = await token({ sub: 'bob' });
  let b = await TestClient.connect(url, { token: bobToken, format: 'msgpack' });
  const online = await a.next(isStatusOf('bob'));
  t.same(Object.keys(online.data).sort(), ['status', 'timestamp', 'userId'], 'the seed shape exactly');
  t.equal(online.data.status, 'online');

  await b.request({ type: 'status', data: { status: 'away' } });
  t.equal((await a.next(isStatusOf('bob'))).data.status, 'away');

  // Quick reconnect within the grace period: nothing is announced.
  await b.close();
  await until('the grace period to start', () => gateway.presence.inGrace('bob'));
  b = await TestClient.connect(url, { token: bobToken });
  // The original grace timer still runs; once it fired and its expiry settled, an
  // offline would have been announced if the reconnect had not counted.
  await until('the grace timer of the first connection fired', () => !gateway.presence.inGrace('bob'));
  await gateway.presence.idle();
  await a.request({ type: 'ping' });
  t.equal(a.ofType('status').length, 0, 'no offline/online flapping on a quick reconnect');
  const q = await a.request({ type: 'presence', data: { users: ['bob'] } });
  t.equal(q.data.users.bob.status, 'away', 'chosen status kept across the quick reconnect');

  const closedAt = Date.now();
  await b.close();
  const offline = await a.next(isStatusOf('bob'), GRACE * 10);
  t.equal(offline.data.status, 'offline');
  t.ok(Date.now() - closedAt >= GRACE - 50, 'offline only after the grace period');
  await a.request({ type: 'ping' });
  t.equal(a.ofType('status').length, 0, 'offline announced once');
  await a.close();
});

t.test('two connections: closing one keeps the user online', async (t) => {
  const { url, gateway } = await startGateway(t, { Presence: { OfflineGrace: '100ms' } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  await a.request({ type: 'watch', data: { users: ['bob'] } });
  const tok = await token({ sub: 'bob' });
  const b1 = await TestClient.connect(url, { token: tok });
  await a.next(isStatusOf('bob', 'online'));
  const b2 = await TestClient.connect(url, { token: tok });
  t.equal((await a.request({ type: 'presence', data: { users: ['bob'] } })).data.users.bob.connections, 2);
  await b1.close();
  await until('the close is registered', async () => (await a.request({ type: 'presence', data: { users: ['bob'] } })).data.users.bob.connections === 1);
  t.notOk(gateway.presence.inGrace('bob'), 'no grace period started: bob still has a connection');
  await gateway.presence.idle();
  const q = await a.request({ type: 'presence', data: { users: ['bob'] } });
  t.equal(q.data.users.bob.status, 'online');
  t.equal(q.data.users.bob.connections, 1);
  t.equal(a.ofType('status').length, 0, 'no offline announced');
  await b2.close();
  t.equal((await a.next(isStatusOf('bob'))).data.status, 'offline');
  await a.close();
});

t.test('invisible looks offline to others and still receives messages', async (t) => {
  const { url } = await startGateway(t, { Presence: { OfflineGrace: '100ms' } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  await a.request({ type: 'watch', data: { users: ['bob'] } });
  const b = await TestClient.connect(url, { token: await token({ sub: 'bob' }) });
  await a.next(isStatusOf('bob', 'online'));
  await b.request({ type: 'status', data: { status: 'invisible' } });
  t.equal((await a.next(isStatusOf('bob'))).data.status, 'offline', 'going invisible looks like going offline');
  const q = await a.request({ type: 'presence', data: { users: ['bob'] } });
  t.same({ status: q.data.users.bob.status, connections: q.data.users.bob.connections }, { status: 'offline', connections: 0 });
  const ack = await a.request({ type: 'message', data: { to: 'bob', content: 'psst' } });
  t.equal((await b.next((f) => f.type === 'message')).data.content, 'psst', 'invisible user still receives');
  t.equal(ack.data.status, 'stored', 'the sender is told what it would be told for an offline user: invisibility does not leak');
  await b.request({ type: 'status', data: { status: 'busy' } });
  const seen = await a.request({ type: 'message', data: { to: 'bob', content: 'hi' } });
  t.equal(seen.data.status, 'delivered', 'visible again: delivered');
  t.equal((await a.next(isStatusOf('bob'))).data.status, 'busy', 'coming back from invisible is announced');
  await Promise.all([a.close(), b.close()]);
});

t.test('presence queries for users and for a group; non-members are refused', async (t) => {
  const { url } = await startGateway(t, { Presence: { OfflineGrace: '100ms' }, Groups: { Open: ['room:*'] } });
  const m1 = await TestClient.connect(url, { token: await token({ sub: 'm1' }) });
  const m2 = await TestClient.connect(url, { token: await token({ sub: 'm2' }) });
  const m2b = await TestClient.connect(url, { token: await token({ sub: 'm2' }) });
  const hidden = await TestClient.connect(url, { token: await token({ sub: 'm3' }) });
  const outsider = await TestClient.connect(url, { token: await token({ sub: 'out' }) });
  for (const c of [m1, m2, m2b, hidden]) await c.request({ type: 'join', data: { group: 'room:9' } });
  await hidden.request({ type: 'status', data: { status: 'invisible' } });

  const users = await m1.request({ type: 'presence', data: { users: ['m1', 'm2', 'm3', 'nobody'] } });
  t.equal(users.type, 'presence');
  t.equal(users.data.users.m1.status, 'online');
  t.equal(users.data.users.m2.connections, 2);
  t.equal(users.data.users.m3.status, 'offline', 'invisible hidden');
  t.same(users.data.users.nobody, { status: 'offline', lastSeen: 0, connections: 0 });

  const group = await m1.request({ type: 'presence', data: { group: 'room:9' } });
  t.same(group.data.online.sort(), ['m1', 'm2'], 'online members, users not connections, invisible hidden');
  t.equal(group.data.count, 2);

  const refused = await outsider.request({ type: 'presence', data: { group: 'room:9' } });
  t.equal(refused.data.code, 'FORBIDDEN', 'a non-member may not query the group');

  await m2.close();
  await m2b.request({ type: 'leave', data: { group: 'room:9' } });
  const after = await m1.request({ type: 'presence', data: { group: 'room:9' } });
  t.same(after.data.online, ['m1'], 'leaving the group removes the member');
  await Promise.all([m1, m2b, hidden, outsider].map((c) => c.close()));
});

t.test('lastSeen is reported for offline users', async (t) => {
  const { url } = await startGateway(t, { Presence: { OfflineGrace: '50ms' } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  await a.request({ type: 'watch', data: { users: ['bob'] } });
  const b = await TestClient.connect(url, { token: await token({ sub: 'bob' }) });
  await a.next(isStatusOf('bob', 'online'));
  const before = Date.now();
  await b.close();
  await a.next(isStatusOf('bob', 'offline'));
  const q = await a.request({ type: 'presence', data: { users: ['bob'] } });
  t.ok(q.data.users.bob.lastSeen >= before - 1000 && q.data.users.bob.lastSeen <= Date.now(), 'lastSeen is the disconnect time');
  await a.close();
});

t.test('group events, when enabled, tell members who joined and left', async (t) => {
  const { url } = await startGateway(t, { Presence: { GroupEvents: true }, Groups: { Open: ['live:*'] } });
  const host = await TestClient.connect(url, { token: await token({ sub: 'host' }) });
  await host.request({ type: 'join', data: { group: 'live:1' } });
  const viewer = await TestClient.connect(url, { token: await token({ sub: 'viewer' }) });
  await viewer.request({ type: 'join', data: { group: 'live:1' } });
  const joined = await host.next((f) => f.type === 'member' && f.data.userId === 'viewer');
  t.equal(joined.data.event, 'join');
  t.equal(joined.data.group, 'live:1');
  await viewer.close();
  const left = await host.next((f) => f.type === 'member' && f.data.userId === 'viewer');
  t.equal(left.data.event, 'leave');
  await host.close();
});
