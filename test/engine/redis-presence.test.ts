import t from 'tap';
import type { RedisConfig } from '../../src/config/types.js';
import { waitReady } from '../../src/engine/redis/connection.js';
import { RedisPresenceStore } from '../../src/engine/redis/presence.js';
import { presenceContract } from '../contract/presence.contract.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, eventually, nodeConfig, readyClient, uniquePrefix } from './redis-fixtures.js';

const T0 = 1_700_000_000_000;
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** Runs the contract with two connections (two "nodes") on `cfg`'s Redis; each fixture gets its own key prefix. */
async function runContract(t: TapTest, name: string, cfg: RedisConfig): Promise<void> {
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');
  presenceContract(t, name, async () => {
    const keyPrefix = uniquePrefix('p');
    const store = new RedisPresenceStore({ client: a, keyPrefix });
    const peers: RedisPresenceStore[] = [];
    return {
      store,
      shared: true,
      peer: async () => {
        const peer = new RedisPresenceStore({ client: b, keyPrefix });
        peers.push(peer);
        return peer;
      },
      cleanup: async () => {
        await store.close();
        for (const p of peers) await p.close();
      },
    };
  });
}

t.test('redis presence: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  await runContract(t, 'redis node', nodeConfig(server));
});

t.test('redis presence: 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  await runContract(t, 'redis cluster', clusterConfig(cluster));
});

t.test('redis presence: key prefixes isolate two clusters on one Redis', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const client = await readyClient(t, nodeConfig(server));
  const one = new RedisPresenceStore({ client, keyPrefix: 'one:' });
  const two = new RedisPresenceStore({ client, keyPrefix: 'two:' });
  await one.connect('u', 'c1', 'n1', T0);
  await one.join('g', 'u', 'c1');
  await one.heartbeat('n1', 50, T0);
  t.same((await two.get(['u'])).get('u'), { status: 'offline', connections: 0, online: false, lastSeen: 0 });
  t.same(await two.members('g', 10), { users: [], count: 0 });
  t.same(await two.reapDeadNodes(T0 + 10_000), [], 'the other prefix sees no node to reap');
  t.equal((await one.get(['u'])).get('u')?.connections, 1, 'and did not touch this one');
  const keys = server.cli('--scan').split('\n').filter(Boolean);
  t.ok(keys.length > 0 && keys.every((k) => k.startsWith('one:')), `every key carries the prefix: ${keys.join(' ')}`);
});

t.test('redis presence: a lapsed lease is reported to the node that lost it', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const client = await readyClient(t, nodeConfig(server));
  const lost: string[] = [];
  const store = new RedisPresenceStore({ client, keyPrefix: uniquePrefix(), onLeaseLost: (n) => lost.push(n) });
  await store.heartbeat('n1', 60_000, Date.now());
  await store.heartbeat('n1', 60_000, Date.now());
  t.same(lost, [], 'a renewed lease is not lost');
  server.cli('flushall');
  await store.heartbeat('n1', 60_000, Date.now());
  t.same(lost, ['n1'], 'a lease gone before renewal is reported once');
});

t.test('redis presence: Redis down gives UNAVAILABLE, and it recovers', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const client = await readyClient(t, nodeConfig(server));
  const store = new RedisPresenceStore({ client, keyPrefix: uniquePrefix() });
  await store.connect('u', 'c1', 'n1', T0);
  await server.kill();
  const started = Date.now();
  await t.rejects(() => store.connect('u', 'c2', 'n1', T0), { code: 'UNAVAILABLE' });
  t.ok(Date.now() - started < 1_000, 'promptly');
  // The harness blocks the event loop while it restarts Redis: let the client see the outage first.
  await eventually('the client to notice', () => client.status !== 'ready');
  await server.restart();
  await waitReady(client, 10_000);
  t.same(await store.connect('u', 'c2', 'n1', T0), { count: 1, evicted: [], cameOnline: true, status: 'online' },
    'works again (the restarted Redis lost its data: nothing persisted in tests)');
});
