import t from 'tap';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { redisSuite, startRedis, startRedisCluster, freePort, type RedisServer } from '../helpers/redis.js';
import { TestClient, expectRefused, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/**
 * Cluster mode end to end: real redis-server processes on free ports, 2–3 gateway
 * processes against them, clients spread across the nodes.
 */

const FAST = {
  Presence: { OfflineGrace: '200ms' },
  Cluster: { NodeLease: '1500ms' },
  Offline: { Engine: 'memory' },
  Limits: { RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } },
  Groups: { Open: ['room:*'] },
};

function nodes(t: { teardown(fn: () => unknown): void }, address: string, n: number, extra: Record<string, unknown> = {}, type = 'node'): Promise<GatewayProcess[]> {
  return Promise.all(Array.from({ length: n }, (_, i) =>
    spawnGateway(t, { ...FAST, ...extra, Redis: { Host: address, Type: type, KeyPrefix: 'sbtest:' }, Cluster: { ...FAST.Cluster, NodeId: `node-${i + 1}` } }, { timeoutMs: 90_000 })));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ready(g: GatewayProcess): Promise<boolean> {
  return (await fetch(`${g.httpUrl}/readyz`)).status === 200;
}

const isStatus = (user: string, status: string) => (f: Frame) => f.type === 'status' && f.data.userId === user && f.data.status === status;

t.test('cluster on one Redis node', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [n1, n2, n3] = await nodes(t, redis.address, 3);
  for (const g of [n1!, n2!, n3!]) await until('node ready', () => ready(g));

  t.test('direct, group and broadcast cross nodes', async (t) => {
    const a = await TestClient.connect(n1!.url, { token: await token({ sub: 'alice', perms: ['broadcast'] }) });
    const b = await TestClient.connect(n2!.url, { token: await token({ sub: 'bob' }), format: 'msgpack' });
    const c = await TestClient.connect(n3!.url, { token: await token({ sub: 'carol' }) });
    const ack = await a.request({ type: 'message', data: { to: 'bob', content: 'across' } });
    t.equal(ack.data.status, 'delivered', 'bob is online on another node');
    const m = await b.next((f) => f.type === 'message');
    t.equal(m.data.content, 'across');
    t.equal(m.data.mid, ack.data.mid);

    for (const x of [a, b, c]) await x.request({ type: 'join', data: { group: 'room:x' } });
    const g = await c.request({ type: 'group', data: { group: 'room:x', content: { n: 1 } } });
    for (const x of [a, b, c]) t.equal((await x.next((f) => f.type === 'group')).data.mid, g.data.mid, 'group message on every node');
    for (const x of [a, b, c]) {
      await x.request({ type: 'ping' });
      t.equal(x.ofType('group').length, 0, 'exactly once');
    }

    const bc = await a.request({ type: 'broadcast', data: { content: 'all nodes' } });
    for (const x of [a, b, c]) t.equal((await x.next((f) => f.type === 'broadcast')).data.mid, bc.data.mid);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  t.test('presence is cluster-wide and transitions are announced once', async (t) => {
    const w1 = await TestClient.connect(n1!.url, { token: await token({ sub: 'watcher1' }) });
    const w3 = await TestClient.connect(n3!.url, { token: await token({ sub: 'watcher3' }) });
    for (const w of [w1, w3]) await w.request({ type: 'watch', data: { users: ['dora'] } });
    const tok = await token({ sub: 'dora' });
    const d2 = await TestClient.connect(n2!.url, { token: tok });
    for (const w of [w1, w3]) await w.next(isStatus('dora', 'online'));
    const d3 = await TestClient.connect(n3!.url, { token: tok });
    const q = await w1.request({ type: 'presence', data: { users: ['dora'] } });
    t.equal(q.data.users.dora.status, 'online', 'online when queried on a node she is not on');
    t.equal(q.data.users.dora.connections, 2, 'connections counted across nodes');
    await d2.close();
    await d3.close();
    for (const w of [w1, w3]) await w.next(isStatus('dora', 'offline'));
    await Promise.all([w1.request({ type: 'ping' }), w3.request({ type: 'ping' })]);
    t.equal(w1.ofType('status').length + w3.ofType('status').length, 0, 'online and offline once each, not once per node');
    await Promise.all([w1.close(), w3.close()]);
  });

  t.test('inbox: stored on one node, delivered when the recipient connects to another', async (t) => {
    const a = await TestClient.connect(n1!.url, { token: await token({ sub: 'ann' }) });
    const mids: string[] = [];
    for (let i = 1; i <= 20; i++) {
      const ack = await a.request({ type: 'message', data: { to: 'ben', content: i } });
      t.equal(ack.data.status, 'stored');
      mids.push(ack.data.mid);
    }
    const b = await TestClient.connect(n3!.url, { token: await token({ sub: 'ben' }) });
    const got: Frame[] = [];
    for (let i = 0; i < 20; i++) got.push(await b.next((f) => f.type === 'message'));
    t.same(got.map((m) => m.data.seq), Array.from({ length: 20 }, (_, i) => i + 1), 'in order, seq 1..20');
    await b.request({ type: 'ack', data: { upTo: 20 } });
    const receipts: Frame[] = [];
    for (let i = 0; i < 20; i++) receipts.push(await a.next((f) => f.type === 'receipt'));
    t.same(receipts.map((r) => r.data.mid), mids, 'receipts cross nodes back to the sender, one per message, in order');
    const live = await a.request({ type: 'message', data: { to: 'ben', content: 'live' } });
    t.equal(live.data.seq, 21, 'seq stays monotonic across nodes');
    await Promise.all([a.close(), b.close()]);
  });
});

t.test('per-user limits hold across nodes', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [r1, r2] = await nodes(t, redis.address, 2, { Limits: { ...FAST.Limits, MaxConnPerUser: 2 } });
  const tok = await token({ sub: 'eve' });
  const c1 = await TestClient.connect(r1!.url, { token: tok });
  const c2 = await TestClient.connect(r2!.url, { token: tok });
  const refused = await expectRefused(r1!.url, { token: tok });
  t.equal(refused.status, 429, 'the third connection is refused, though each node holds only one');
  t.equal(refused.body.error.code, 'TOO_MANY_CONNECTIONS');
  await c1.close();
  await until('slot freed', async () => {
    try {
      const c3 = await TestClient.connect(r1!.url, { token: tok });
      await c3.close();
      return true;
    } catch {
      return false;
    }
  });
  await c2.close();

  const [e1, e2] = await nodes(t, redis.address, 2, { Limits: { ...FAST.Limits, MaxConnPerUser: 2, PerUserPolicy: 'evict-oldest' } });
  const ftok = await token({ sub: 'fay' });
  const oldest = await TestClient.connect(e1!.url, { token: ftok });
  const middle = await TestClient.connect(e2!.url, { token: ftok });
  const newest = await TestClient.connect(e2!.url, { token: ftok });
  t.equal((await oldest.closed).code, 4008, 'the oldest, on the other node, is evicted with 4008');
  t.equal((await middle.request({ type: 'ping' })).type, 'pong');
  t.equal((await newest.request({ type: 'ping' })).type, 'pong');
  await Promise.all([middle.close(), newest.close()]);
});

t.test('Redis faults: unreachable at start, killed and restarted while running', redisSuite(), async (t) => {
  const port = await freePort();
  // Nothing listens on this port yet: the gateways must start anyway and report not-ready.
  const address = `127.0.0.1:${port}`;
  const [g1, g2] = await nodes(t, address, 2);
  t.equal(await ready(g1!), false, '/readyz is 503 while Redis is unreachable');
  const local1 = await TestClient.connect(g1!.url, { token: await token({ sub: 'loc1' }) });
  const local2 = await TestClient.connect(g1!.url, { token: await token({ sub: 'loc2' }) });
  t.equal((await local1.request({ type: 'ping' })).type, 'pong', 'connections are accepted without Redis');
  const refused = await local1.request({ type: 'join', data: { group: 'room:local' } });
  t.equal(refused.data.code, 'UNAVAILABLE', 'a join that cannot be recorded is refused, not half-applied');
  const notMember = await local1.request({ type: 'group', data: { group: 'room:local', content: 'x' } });
  t.equal(notMember.data.code, 'FORBIDDEN', 'the refused join left the client outside the group');

  const redis: RedisServer = await startRedis(t, [], port);
  await until('both nodes ready', async () => (await ready(g1!)) && (await ready(g2!)), 20_000);
  for (const c of [local1, local2]) {
    t.equal((await c.request({ type: 'join', data: { group: 'room:local' } })).data.status, 'ok', 'a retried join succeeds once Redis is up');
  }
  await local1.request({ type: 'group', data: { group: 'room:local', content: 'works now' } });
  t.equal((await local2.next((f) => f.type === 'group')).data.content, 'works now');

  const a = await TestClient.connect(g1!.url, { token: await token({ sub: 'gus' }) });
  const b = await TestClient.connect(g2!.url, { token: await token({ sub: 'hal' }) });
  t.equal((await a.request({ type: 'message', data: { to: 'hal', content: 1 } })).data.status, 'delivered');
  await b.next((f) => f.type === 'message');

  await redis.kill();
  const during = await a.request({ type: 'message', data: { to: 'hal', content: 'lost?' } });
  t.equal(during.type, 'error', 'a message that cannot be stored or published gets an error, not silence');
  t.equal(during.data.code, 'UNAVAILABLE');
  await until('a node reports not-ready', async () => !(await ready(g1!)));

  await redis.restart();
  await until('both nodes ready again', async () => (await ready(g1!)) && (await ready(g2!)), 20_000);
  // Redis restarted empty: nodes re-register their connections and resubscribe their channels.
  await until('cross-node delivery again', async () => {
    const ack = await a.request({ type: 'message', data: { to: 'hal', content: 'after restart' } });
    return ack.type === 'ack' && ack.data.status === 'delivered';
  }, 15_000);
  const m = await b.next((f) => f.type === 'message' && f.data.content === 'after restart');
  t.equal(m.data.from, 'gus', 'messages flow across nodes after the Redis restart');
  await Promise.all([a.close(), b.close(), local1.close(), local2.close()]);
});

t.test('a node killed with SIGKILL: others keep serving, its users go offline within the lease', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [k1, k2] = await nodes(t, redis.address, 2);
  const watcher = await TestClient.connect(k2!.url, { token: await token({ sub: 'ivy' }) });
  await watcher.request({ type: 'watch', data: { users: ['jay'] } });
  await TestClient.connect(k1!.url, { token: await token({ sub: 'jay' }) });
  await watcher.next(isStatus('jay', 'online'), undefined, 'jay online (published by node 1)');
  const killedAt = Date.now();
  k1!.child.kill('SIGKILL');
  const offline = await watcher.next(isStatus('jay', 'offline'), 15_000, 'jay offline (announced by node 2 once node 1 lease expired)');
  t.equal(offline.data.userId, 'jay', `offline announced ${Date.now() - killedAt} ms after the kill (lease 1500 ms)`);
  const q = await watcher.request({ type: 'presence', data: { users: ['jay'] } });
  t.equal(q.data.users.jay.connections, 0);
  const other = await TestClient.connect(k2!.url, { token: await token({ sub: 'kim' }) });
  t.equal((await watcher.request({ type: 'message', data: { to: 'kim', content: 'still here' } })).data.status, 'delivered');
  await Promise.all([watcher.close(), other.close()]);
});

t.test('Redis Cluster (3 masters, sharded pub/sub): delivery crosses nodes', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  const [c1, c2] = await nodes(t, cluster.address, 2, {}, 'cluster');
  for (const g of [c1!, c2!]) await until('node ready', () => ready(g), 20_000);
  const a = await TestClient.connect(c1!.url, { token: await token({ sub: 'lea' }) });
  const b = await TestClient.connect(c2!.url, { token: await token({ sub: 'max' }) });
  for (const x of [a, b]) await x.request({ type: 'join', data: { group: 'room:c' } });
  t.equal((await a.request({ type: 'message', data: { to: 'max', content: 'hi' } })).data.status, 'delivered');
  t.equal((await b.next((f) => f.type === 'message')).data.content, 'hi');
  await b.request({ type: 'group', data: { group: 'room:c', content: 'grp' } });
  t.equal((await a.next((f) => f.type === 'group')).data.content, 'grp');
  await Promise.all([a.close(), b.close()]);
});

t.test('per-user rate limit holds across nodes (shared counts)', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [r1, r2] = await nodes(t, redis.address, 2, { Limits: { RateLimit: { MessagesPerSecond: 5, Burst: 10 } } });
  const tok = await token({ sub: 'rita' });
  const a = await TestClient.connect(r1!.url, { token: tok });
  const b = await TestClient.connect(r2!.url, { token: tok });
  // The shared feed (see src/engine/redis/rate-share.ts): one stream entry per report,
  // `n <node>` then `<user> <count>` pairs, naming only users that sent.
  const reported = (node: string): number => {
    const lines = redis.cli('xrange', 'sbtest:{rate}:feed', '-', '+').trim().split('\n');
    let sum = 0;
    for (let i = 0; i + 3 < lines.length; i++) {
      if (lines[i] === 'n' && lines[i + 1] === node) {
        for (let j = i + 2; j + 1 < lines.length && !/^\d+-\d+$/.test(lines[j]!) && lines[j] !== 'n'; j += 2) {
          if (lines[j] === 'rita') sum += Number(lines[j + 1]);
        }
      }
    }
    return sum;
  };
  const reads = (): number => Number(/cmdstat_xread:calls=(\d+)/.exec(redis.cli('info', 'commandstats'))?.[1] ?? 0);
  /** Each node reads the feed every 200 ms: after 4 more reads, both have read since. */
  const bothRead = async (what: string): Promise<void> => {
    const from = reads();
    await until(what, () => reads() >= from + 4);
  };
  const burst = async (c: TestClient, n: number): Promise<number> => {
    const replies = await Promise.all(Array.from({ length: n }, () => c.request({ type: 'ping' })));
    return replies.filter((f) => f.type === 'pong').length;
  };
  // Each node's first exchange with a local user sets where it starts reading: wait until
  // both have read the feed a few times, then let the bucket refill.
  await bothRead('both nodes read the feed');
  t.equal(await burst(a, 10), 10, 'the whole burst passes on the first node');
  await until('the first node reported the burst', () => reported('node-1') >= 10);
  await bothRead('the second node read the report');
  const passed = await burst(b, 10);
  t.ok(passed <= 6, `the second node knows the user spent the burst elsewhere: ${passed} of 10 passed (alone it would pass 10)`);
  await Promise.all([a.close(), b.close()]);
});

t.test('a node killed during a user\'s grace period: another node announces the offline', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [k1, k2] = await nodes(t, redis.address, 2, { Presence: { OfflineGrace: '1s' } });
  const watcher = await TestClient.connect(k2!.url, { token: await token({ sub: 'olga' }) });
  await watcher.request({ type: 'watch', data: { users: ['pete'] } });
  const pete = await TestClient.connect(k1!.url, { token: await token({ sub: 'pete' }) });
  await watcher.next(isStatus('pete', 'online'));
  await pete.close();
  // The grace timer runs on node 1, which dies before it fires.
  k1!.child.kill('SIGKILL');
  const offline = await watcher.next(isStatus('pete', 'offline'), 15_000);
  t.equal(offline.data.status, 'offline', 'the offline owed to watchers still arrives');
  await watcher.request({ type: 'ping' });
  t.equal(watcher.ofType('status').length, 0, 'once');
  await watcher.close();
});
