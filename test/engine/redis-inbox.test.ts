import { Cluster } from 'ioredis';
import t from 'tap';
import type { RedisConfig } from '../../src/config/types.js';
import type { NewInboxEntry } from '../../src/engine/inbox.js';
import { RedisInbox } from '../../src/engine/redis/inbox.js';
import { inboxContract } from '../contract/inbox.contract.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, nodeConfig, readyClient, uniquePrefix } from './redis-fixtures.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];
const T0 = 1_700_000_000_000;
const entry = (to: string, n: number, timestamp = T0): NewInboxEntry => ({ mid: `m${n}`, from: 'sender', to, content: { n }, timestamp });

/** The contract, then what only a shared inbox has to show: two nodes, SCAN-based sweep, key expiry, prefixes. */
async function suite(t: TapTest, name: string, cfg: RedisConfig): Promise<void> {
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');
  inboxContract(t, name, async (opts, clock) => {
    const inbox = new RedisInbox({ ...opts, client: a, keyPrefix: uniquePrefix('i') }, clock);
    return {
      inbox,
      // Redis restarted empty, as far as the data goes (the connection stays up).
      lose: async () => {
        const servers = a instanceof Cluster ? a.nodes('master') : [a];
        await Promise.all(servers.map((s) => s.flushall()));
        return inbox;
      },
      cleanup: () => inbox.close(),
    };
  });

  t.test(`${name}: two nodes appending concurrently for one user get distinct increasing seqs`, async (t) => {
    const keyPrefix = uniquePrefix('i');
    const one = new RedisInbox({ client: a, keyPrefix, maxPerUser: 10_000, ttlMs: 3_600_000 });
    const two = new RedisInbox({ client: b, keyPrefix, maxPerUser: 10_000, ttlMs: 3_600_000 });
    const now = Date.now();
    const fromOne = Array.from({ length: 200 }, (_, i) => one.append('u', entry('u', i, now)));
    const fromTwo = Array.from({ length: 200 }, (_, i) => two.append('u', entry('u', 1000 + i, now)));
    const [r1, r2] = await Promise.all([Promise.all(fromOne), Promise.all(fromTwo)]);
    const s1 = r1.map((r) => r.seq);
    const s2 = r2.map((r) => r.seq);
    t.ok(s1.every((s, i) => i === 0 || s > s1[i - 1]!), 'node one: increasing in its call order');
    t.ok(s2.every((s, i) => i === 0 || s > s2[i - 1]!), 'node two: increasing in its call order');
    t.same([...s1, ...s2].sort((x, y) => x - y), Array.from({ length: 400 }, (_, i) => i + 1), 'together exactly 1..400, none shared');
    const all = await two.read('u', 0, 1000);
    t.same(all.map((e) => e.seq), Array.from({ length: 400 }, (_, i) => i + 1), 'one sequence, read from either node');
    t.equal(await one.lastSeq('u'), 400);
    await one.close();
    await two.close();
  });

  t.test(`${name}: sweep walks every user in SCAN batches`, async (t) => {
    let now = T0;
    const inbox = new RedisInbox({ client: a, keyPrefix: uniquePrefix('i'), maxPerUser: 100, ttlMs: 1_000 }, () => now);
    t.teardown(() => inbox.close());
    // 450 users (more than two SCAN batches, spread over every master of a cluster), one fresh entry for 50 of them.
    await Promise.all(Array.from({ length: 450 }, (_, i) => inbox.append(`user-${i}`, entry(`user-${i}`, 1))));
    now = T0 + 2_000;
    await Promise.all(Array.from({ length: 50 }, (_, i) => inbox.append(`user-${i}`, entry(`user-${i}`, 2, now))));
    t.equal(await inbox.sweep(), 450, 'every expired entry, none of the fresh ones');
    t.equal(await inbox.sweep(), 0);
    t.equal(await inbox.takeDropped('user-449'), 1);
    t.same((await inbox.read('user-0', 0, 10)).map((e) => e.mid), ['m2']);
  });
}

t.test('redis inbox: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  await suite(t, 'redis node', nodeConfig(server));

  t.test('idle users do not leak: keys carry an expiry, the counter outlives the entries', async (t) => {
    const client = await readyClient(t, nodeConfig(server));
    const keyPrefix = uniquePrefix('x');
    const inbox = new RedisInbox({ client, keyPrefix, maxPerUser: 10, ttlMs: 60_000, counterRetentionMs: 7 * 86_400_000 });
    t.teardown(() => inbox.close());
    await inbox.append('u', entry('u', 1));
    const ttl = (suffix: string): number => Number(server.cli('pttl', `{${keyPrefix}u:u}:${suffix}`).trim());
    const hour = 3_600_000;
    t.ok(ttl('e') > 60_000 && ttl('e') <= 60_000 + hour, `entries expire after ttl + 1h (${ttl('e')})`);
    t.ok(ttl('t') > 60_000 && ttl('t') <= 60_000 + hour, 'so does the expiry index');
    t.ok(ttl('m') > 6 * 86_400_000 && ttl('m') <= 7 * 86_400_000, `the counter is kept for counterRetentionMs (${ttl('m')})`);
    const forever = new RedisInbox({ client, keyPrefix: `${keyPrefix}f:`, maxPerUser: 10, ttlMs: Infinity });
    t.teardown(() => forever.close());
    await forever.append('u', entry('u', 1));
    t.equal(Number(server.cli('pttl', `{${keyPrefix}f:u:u}:e`).trim()), -1, 'ttl Infinity: nothing expires');
  });

  t.test('key prefixes isolate two clusters on one Redis; a prefix with glob characters sweeps only itself', async (t) => {
    const client = await readyClient(t, nodeConfig(server));
    let now = T0;
    const one = new RedisInbox({ client, keyPrefix: 'one*[x]:', maxPerUser: 10, ttlMs: 1_000 }, () => now);
    const two = new RedisInbox({ client, keyPrefix: 'one-other:', maxPerUser: 10, ttlMs: 1_000 }, () => now);
    await one.append('u', entry('u', 1));
    await two.append('u', entry('u', 1));
    await two.append('u', entry('u', 2));
    t.equal(await one.lastSeq('u'), 1);
    t.equal(await two.lastSeq('u'), 2);
    now = T0 + 5_000;
    t.equal(await one.sweep(), 1, 'one sweeps only its own entry');
    t.equal(await two.sweep(), 2);
    await one.close();
    await two.close();
  });

  t.test('Redis down: UNAVAILABLE at once, no queue', async (t) => {
    const own = await startRedis(t);
    const client = await readyClient(t, nodeConfig(own));
    const inbox = new RedisInbox({ client, keyPrefix: uniquePrefix('d'), maxPerUser: 10, ttlMs: 60_000 });
    t.teardown(() => inbox.close());
    await inbox.append('u', entry('u', 1));
    await own.kill();
    const started = Date.now();
    await t.rejects(inbox.append('u', entry('u', 2)), { code: 'UNAVAILABLE' });
    await t.rejects(inbox.read('u', 0, 10), { code: 'UNAVAILABLE' });
    t.ok(Date.now() - started < 1_000, 'promptly');
  });
});

t.test('redis inbox: 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  await suite(t, 'redis cluster', clusterConfig(cluster));
});
