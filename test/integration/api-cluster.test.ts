import { createHash } from 'node:crypto';
import t from 'tap';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { redisSuite, startRedis } from '../helpers/redis.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { API_KEY, call } from '../helpers/api.js';

/** The HTTP API in cluster mode: two gateway processes on one real redis-server. */

const SETTINGS = {
  Presence: { OfflineGrace: '200ms', GroupEvents: true },
  Cluster: { NodeLease: '1500ms' },
  Offline: { Engine: 'memory' },
  Limits: { RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } },
  Groups: { Open: ['room:*'] },
  Http: { ApiKeys: [API_KEY] },
};

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function connect(g: GatewayProcess, user: string): Promise<TestClient> {
  const c = await TestClient.connect(g.url, { token: await token({ sub: user }) });
  await c.request({ type: 'ping' });
  return c;
}

t.test('HTTP API across two nodes', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [n1, n2] = await Promise.all([1, 2].map((i) => spawnGateway(t, {
    ...SETTINGS, Redis: { Host: redis.address, KeyPrefix: 'sbapi:' }, Cluster: { ...SETTINGS.Cluster, NodeId: `node-${i}` },
  })));
  const [a, b] = [n1!, n2!];
  await until('both nodes ready', async () => (await fetch(`${a.httpUrl}/readyz`)).status === 200 && (await fetch(`${b.httpUrl}/readyz`)).status === 200);

  t.test('push sent to one node reaches a user on the other; a retry on the other node delivers nothing', async (t) => {
    const bob = await connect(b, 'bob');
    const opts = { body: { to: ['bob'], content: 'across' }, headers: { 'idempotency-key': 'cross-1' } };
    const r = await call(a.httpUrl, 'POST', '/api/v1/push', opts);
    t.equal(r.body.results[0].status, 'delivered', 'online on the other node');
    t.match((await bob.next((f) => f.type === 'message')).data, { from: 'system', content: 'across', mid: r.body.results[0].mid });
    const retry = await call(b.httpUrl, 'POST', '/api/v1/push', opts);
    t.same(retry.body, r.body, 'the other node answers the retry from Redis');
    t.equal(retry.headers.get('idempotent-replayed'), 'true');
    await bob.request({ type: 'ping' });
    t.equal(bob.ofType('message').length, 0, 'delivered once');
    await bob.close();
  });

  t.test('disconnect closes the user\'s connections on both nodes with 4010', async (t) => {
    const c1 = await connect(a, 'cat');
    const c2 = await connect(b, 'cat');
    const r = await call(a.httpUrl, 'POST', '/api/v1/users/cat/disconnect', { body: { reason: 'account closed' } });
    t.same(r.body, { closed: 2 }, 'counted across nodes');
    t.same(await c1.closed, { code: 4010, reason: 'account closed' }, 'on the node that took the call');
    t.same(await c2.closed, { code: 4010, reason: 'account closed' }, 'on the other node');
  });

  t.test('server-side join and leave reach connections on the other node', async (t) => {
    const host = await connect(a, 'host');
    await host.request({ type: 'join', data: { group: 'room:live' } });
    const viewer = await connect(b, 'viewer');
    // Every frame type either client ever receives, consumed by next() or not.
    const seen = new Set<string>();
    for (const c of [host, viewer]) c.ws.on('message', (d: Buffer) => seen.add(String(JSON.parse(d.toString('utf8')).type)));
    const add = await call(a.httpUrl, 'POST', '/api/v1/groups/room%3Alive/members', { body: { users: ['viewer'] } });
    t.equal(add.status, 200);
    await host.next((f) => f.type === 'member' && f.data.userId === 'viewer' && f.data.event === 'join');
    t.pass('the member event from the other node reached the group');
    // The other node subscribes Redis to the group when the viewer joins; publish until that is in place.
    await until('the viewer to receive group messages', async () => {
      await call(a.httpUrl, 'POST', '/api/v1/groups/room%3Alive/publish', { body: { content: 'frame' } });
      return viewer.ofType('group').length > 0;
    });
    t.match(viewer.ofType('group')[0]!.data, { group: 'room:live', from: 'system', content: 'frame' });
    const gp = await call(b.httpUrl, 'GET', '/api/v1/groups/room%3Alive/presence');
    t.same(gp.body.online.sort(), ['host', 'viewer'], 'group presence is cluster-wide');
    await call(b.httpUrl, 'DELETE', '/api/v1/groups/room%3Alive/members/viewer');
    await host.next((f) => f.type === 'member' && f.data.userId === 'viewer' && f.data.event === 'leave');
    viewer.frames.length = 0;
    const last = await call(a.httpUrl, 'POST', '/api/v1/groups/room%3Alive/publish', { body: { content: 'after leave' } });
    await host.next((f) => f.type === 'group' && f.data.mid === last.body.mid);
    await viewer.request({ type: 'ping' });
    t.equal(viewer.ofType('group').length, 0, 'removal stops them');
    t.notOk(seen.has('control'), 'control frames never reach a client');
    t.ok(seen.has('member') && seen.has('group'), 'while the frames they caused do');
    await Promise.all([host.close(), viewer.close()]);
  });

  t.test('stats list both live nodes', async (t) => {
    await until('both leases', async () => (await call(a.httpUrl, 'GET', '/api/v1/stats')).body.nodes?.length === 2);
    const r = await call(a.httpUrl, 'GET', '/api/v1/stats');
    t.equal(r.body.node, 'node-1');
    t.same(r.body.nodes.map((n: { node: string }) => n.node), ['node-1', 'node-2']);
    t.ok(r.body.nodes.every((n: { leaseExpiresAt: number }) => n.leaseExpiresAt > Date.now() - 1000));
  });

  t.test('API calls are logged with route, key fingerprint, status and duration; never the key or content', async (t) => {
    const lines = a.logs.filter((l) => l['msg'] === 'api');
    t.ok(lines.length >= 4);
    const fingerprint = createHash('sha256').update(API_KEY).digest('hex').slice(0, 8);
    t.match(lines[0], { level: 30, route: 'POST /api/v1/push', key: fingerprint, status: 200, ms: Number });
    const all = JSON.stringify(a.logs) + JSON.stringify(b.logs);
    t.notOk(all.includes(API_KEY), 'the key never appears');
    t.notOk(all.includes('"across"'), 'push content never appears');
  });
});
