import t from 'tap';
import type { RedisConfig } from '../../src/config/types.js';
import { RedisRateShare } from '../../src/engine/redis/rate-share.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, nodeConfig, readyClient, uniquePrefix } from './redis-fixtures.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];
const counts = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));

async function suite(t: TapTest, cfg: RedisConfig): Promise<void> {
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');

  t.test('two nodes see each other\'s counts since their last exchange', async (t) => {
    const keyPrefix = uniquePrefix('r');
    const nodeA = new RedisRateShare({ client: a, keyPrefix });
    const nodeB = new RedisRateShare({ client: b, keyPrefix });
    t.teardown(() => nodeA.close());
    t.teardown(() => nodeB.close());
    t.same(await nodeA.exchange('A', counts({ u: 5, v: 1 })), new Map(), 'a first exchange has no baseline');
    t.same(await nodeB.exchange('B', counts({ u: 3 })), new Map(), 'nor does B\'s first');
    t.same(await nodeA.exchange('A', counts({ u: 1, v: 0 })), counts({ u: 3 }), 'A learns the 3 frames B reported; nothing for v');
    t.same(await nodeB.exchange('B', counts({ u: 0 })), counts({ u: 1 }), 'B learns only what A added since B\'s last exchange');
    t.same(await nodeB.exchange('B', counts({ u: 2 })), new Map(), 'nothing new from A');
    await nodeB.exchange('B', counts({ v: 7 }));
    t.same(await nodeA.exchange('A', counts({ u: 0, v: 0 })), counts({ u: 2, v: 7 }));
    t.same(await nodeA.exchange('A', new Map()), new Map(), 'an empty exchange is free');
  });

  t.test('many users in one exchange (spread over every shard of a cluster)', async (t) => {
    const keyPrefix = uniquePrefix('r');
    const nodeA = new RedisRateShare({ client: a, keyPrefix });
    const nodeB = new RedisRateShare({ client: b, keyPrefix });
    const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    await nodeA.exchange('A', new Map(users.map((u) => [u, 0])));
    await nodeB.exchange('B', new Map(users.map((u, i) => [u, i])));
    const learned = await nodeA.exchange('A', new Map(users.map((u) => [u, 0])));
    t.same(learned, new Map(users.slice(1).map((u, i) => [u, i + 1])), 'every user with its own count (user-0 sent nothing)');
    await nodeA.close();
    await nodeB.close();
  });

  t.test('prefixes isolate; bad input is refused', async (t) => {
    const one = new RedisRateShare({ client: a, keyPrefix: uniquePrefix('r') });
    const two = new RedisRateShare({ client: b, keyPrefix: uniquePrefix('r') });
    await one.exchange('A', counts({ u: 0 }));
    await two.exchange('B', counts({ u: 9 }));
    t.same(await one.exchange('A', counts({ u: 0 })), new Map(), 'another prefix is another cluster');
    await t.rejects(one.exchange('', counts({ u: 1 })), TypeError);
    await t.rejects(one.exchange('A', counts({ u: -1 })), RangeError);
    await t.rejects(one.exchange('A', counts({ u: 1.5 })), RangeError);
    await one.close();
    await two.close();
    await t.rejects(one.exchange('A', counts({ u: 1 })), /closed/);
  });
}

t.test('redis rate share: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  await suite(t, nodeConfig(server));
});

t.test('redis rate share: 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  await suite(t, clusterConfig(cluster));
});
