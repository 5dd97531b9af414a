import t from 'tap';
import { MemoryIdempotencyStore } from '../../src/engine/memory/idempotency.js';
import { RedisIdempotencyStore } from '../../src/engine/redis/idempotency.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, nodeConfig, readyClient, uniquePrefix } from '../engine/redis-fixtures.js';
import type { RedisConfig } from '../../src/config/types.js';
import { idempotencyContract } from './idempotency.contract.js';

idempotencyContract(t, 'memory', async () => {
  const store = new MemoryIdempotencyStore();
  return { store, cleanup: () => store.close() };
});

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function redisFixtures(t: TapTest, name: string, cfg: RedisConfig): Promise<void> {
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');
  idempotencyContract(t, name, async () => {
    const keyPrefix = uniquePrefix('i');
    const store = new RedisIdempotencyStore({ client: a, keyPrefix });
    const peers: RedisIdempotencyStore[] = [];
    return {
      store,
      peer: async () => {
        const peer = new RedisIdempotencyStore({ client: b, keyPrefix });
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

t.test('redis node', redisSuite(), async (t) => {
  await redisFixtures(t, 'redis', nodeConfig(await startRedis(t)));
});

t.test('redis cluster', redisSuite(), async (t) => {
  await redisFixtures(t, 'redis cluster', clusterConfig(await startRedisCluster(t)));
});

t.test('memory: calls after close reject', async (t) => {
  const store = new MemoryIdempotencyStore();
  await store.close();
  await t.rejects(() => store.begin('s', 'k', 'f', 1000), /closed/);
});
