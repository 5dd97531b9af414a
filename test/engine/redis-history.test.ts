import t from 'tap';
import type { RedisConfig } from '../../src/config/types.js';
import { RedisGroupHistory } from '../../src/engine/redis/history.js';
import { historyContract } from '../contract/history.contract.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, nodeConfig, readyClient, uniquePrefix } from './redis-fixtures.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** The contract (a wipe is a FLUSH of the fixture's keys), then what only a shared history shows: two nodes at once. */
async function suite(t: TapTest, name: string, cfg: RedisConfig): Promise<void> {
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');
  historyContract(t, name, async (clock) => {
    const keyPrefix = uniquePrefix('h');
    let history = new RedisGroupHistory({ client: a, keyPrefix }, clock);
    return {
      history,
      wipe: async () => {
        await history.close();
        // The keys of group 'g' (the only one the wipe test uses), deleted behind the engine's back.
        await a.del(`${keyPrefix}{h:g}:e`, `${keyPrefix}{h:g}:x`, `${keyPrefix}{h:g}:m`);
        history = new RedisGroupHistory({ client: a, keyPrefix }, clock);
        return history;
      },
      cleanup: () => history.close(),
    };
  });

  t.test(`${name}: two nodes appending to one group share one offset sequence`, async (t) => {
    const keyPrefix = uniquePrefix('h');
    const one = new RedisGroupHistory({ client: a, keyPrefix });
    const two = new RedisGroupHistory({ client: b, keyPrefix });
    const limits = { size: 10_000, ttlMs: 3_600_000 };
    const entry = (n: number) => ({ mid: `m${n}`, from: 'u', content: n, timestamp: Date.now() });
    const [r1, r2] = await Promise.all([
      Promise.all(Array.from({ length: 100 }, (_, i) => one.append('room', entry(i), limits))),
      Promise.all(Array.from({ length: 100 }, (_, i) => two.append('room', entry(100 + i), limits))),
    ]);
    const all = [...r1, ...r2];
    t.equal(new Set(all.map((r) => r.epoch)).size, 1, 'one epoch');
    t.same(all.map((r) => r.offset).sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i + 1), 'exactly 1..200');
    const page = await two.read('room', 0, 1000);
    t.same(page.entries.map((e) => e.offset), Array.from({ length: 200 }, (_, i) => i + 1));
    t.equal(page.offset, 200);
    await one.close();
    await two.close();
  });

  t.test(`${name}: keys carry an expiry, so an idle group's history goes away whole`, async (t) => {
    const keyPrefix = uniquePrefix('h');
    const h = new RedisGroupHistory({ client: a, keyPrefix });
    await h.append('idle', { mid: 'm', from: 'u', content: 1, timestamp: Date.now() }, { size: 10, ttlMs: 5000 });
    for (const suffix of ['e', 'x', 'm']) {
      const ttl = await a.pttl(`${keyPrefix}{h:idle}:${suffix}`);
      t.ok(ttl > 5000 && ttl <= 65_000, `${suffix}: expiry of TTL plus a grace minute (${ttl} ms)`);
    }
    await h.close();
  });
}

t.test('redis history: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  await suite(t, 'redis node', nodeConfig(server));
});

t.test('redis history: 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  await suite(t, 'redis cluster', clusterConfig(cluster));
});
