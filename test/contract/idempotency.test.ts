import t from 'tap';
import { MemoryIdempotencyStore } from '../../src/engine/memory/idempotency.js';
import { RedisIdempotencyStore } from '../../src/engine/redis/idempotency.js';
import { redisSuite, startRedis } from '../helpers/redis.js';
import { nodeConfig, readyClient, uniquePrefix } from '../engine/redis-fixtures.js';
import { idempotencyContract } from './idempotency.contract.js';

idempotencyContract(t, 'memory', async () => {
  const store = new MemoryIdempotencyStore();
  return { store, cleanup: () => store.close() };
});

t.test('redis', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const cfg = nodeConfig(server);
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');
  idempotencyContract(t, 'redis', async () => {
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
});

t.test('memory: calls after close reject', async (t) => {
  const store = new MemoryIdempotencyStore();
  await store.close();
  await t.rejects(() => store.begin('s', 'k', 'f', 1000), /closed/);
});
