import t from 'tap';
import { pino } from 'pino';
import type { RedisConfig } from '../../src/config/types.js';
import { UserRateLimiter } from '../../src/core/limits.js';
import type { RedisClient } from '../../src/engine/redis/connection.js';
import { RedisRateShare } from '../../src/engine/redis/rate-share.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, nodeConfig, readyClient, uniquePrefix } from './redis-fixtures.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];
const counts = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));

/** Commands Redis has run so far (INFO commandstats), without the INFO calls themselves. */
async function commandsRun(client: RedisClient): Promise<number> {
  const info = await client.info('commandstats');
  let sum = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') sum += Number(m[2]);
  return sum;
}

async function suite(t: TapTest, cfg: RedisConfig): Promise<void> {
  const a = await readyClient(t, cfg, 'node-a');
  const b = await readyClient(t, cfg, 'node-b');

  t.test('two nodes see each other\'s counts since their last exchange', async (t) => {
    const keyPrefix = uniquePrefix('r');
    const nodeA = new RedisRateShare({ client: a, keyPrefix });
    const nodeB = new RedisRateShare({ client: b, keyPrefix });
    t.teardown(() => nodeA.close());
    t.teardown(() => nodeB.close());
    t.same(await nodeA.exchange('A', counts({ u: 5, v: 1 })), new Map(), 'a first exchange only sets the baseline');
    t.same(await nodeB.exchange('B', counts({ u: 3 })), new Map(), 'so does B\'s (A\'s earlier report is not charged)');
    t.same(await nodeA.exchange('A', counts({ u: 1, v: 0 })), counts({ u: 3 }), 'A learns the 3 frames B reported; nothing for v');
    t.same(await nodeB.exchange('B', counts({ u: 0 })), counts({ u: 1 }), 'B learns only what A added since B\'s last exchange');
    t.same(await nodeB.exchange('B', counts({ u: 2 })), new Map(), 'nothing new from A');
    await nodeB.exchange('B', counts({ v: 7 }));
    t.same(await nodeA.exchange('A', new Map()), counts({ u: 2, v: 7 }), 'users A did not name are returned too (A keeps those it holds)');
    t.same(await nodeA.exchange('A', new Map()), new Map(), 'nothing new');
  });

  t.test('many users in one exchange', async (t) => {
    const keyPrefix = uniquePrefix('r');
    const nodeA = new RedisRateShare({ client: a, keyPrefix });
    const nodeB = new RedisRateShare({ client: b, keyPrefix });
    const users = Array.from({ length: 3000 }, (_, i) => `user-${i}`);
    await nodeA.exchange('A', new Map());
    await nodeB.exchange('B', new Map(users.map((u, i) => [u, i])));
    const learned = await nodeA.exchange('A', new Map());
    t.same(learned, new Map(users.slice(1).map((u, i) => [u, i + 1])), 'every user with its own count (user-0 sent nothing)');
    await nodeA.close();
    await nodeB.close();
  });

  t.test('a node that could not read for longer than maxAgeMs is not charged for old frames', async (t) => {
    const keyPrefix = uniquePrefix('r');
    const nodeA = new RedisRateShare({ client: a, keyPrefix, maxAgeMs: 50 });
    const nodeB = new RedisRateShare({ client: b, keyPrefix, maxAgeMs: 50 });
    t.teardown(() => nodeA.close());
    t.teardown(() => nodeB.close());
    await nodeA.exchange('A', new Map());
    await nodeB.exchange('B', counts({ u: 4 }));
    // Let A's last read age past maxAgeMs (time passing is what is tested, not a race).
    await new Promise((r) => setTimeout(r, 120));
    t.same(await nodeA.exchange('A', new Map()), new Map(), 'A starts again from the newest report');
    await nodeB.exchange('B', counts({ u: 2 }));
    t.same(await nodeA.exchange('A', new Map()), counts({ u: 2 }), 'and learns what came after');
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
    t.throws(() => new RedisRateShare({ client: a, keyPrefix: 'x', maxAgeMs: 0 }), RangeError);
    await one.close();
    await two.close();
    await t.rejects(one.exchange('A', counts({ u: 1 })), /closed/);
  });

  t.test('the per-user limit holds across 2 nodes', async (t) => {
    const keyPrefix = uniquePrefix('r');
    const log = pino({ level: 'silent' });
    const shareA = new RedisRateShare({ client: a, keyPrefix });
    const shareB = new RedisRateShare({ client: b, keyPrefix });
    t.teardown(() => shareA.close());
    t.teardown(() => shareB.close());
    // A frozen clock: no refill, so every frame allowed anywhere is one of the burst.
    const limitA = new UserRateLimiter({ messagesPerSecond: 1, burst: 10 }, { share: shareA, nodeId: 'A', log }, () => 0);
    const limitB = new UserRateLimiter({ messagesPerSecond: 1, burst: 10 }, { share: shareB, nodeId: 'B', log }, () => 0);
    limitA.opened('u', 0);
    limitB.opened('u', 0);
    await limitA.exchange();
    await limitB.exchange();
    let allowedA = 0;
    for (let i = 0; i < 7; i++) if (limitA.take('u', 0) === 0) allowedA++;
    t.equal(allowedA, 7);
    await limitA.exchange();
    await limitB.exchange();
    let allowedB = 0;
    for (let i = 0; i < 10; i++) if (limitB.take('u', 0) === 0) allowedB++;
    t.equal(allowedB, 3, 'B, where the user had sent nothing, allows only what is left of the burst');
    await limitB.exchange();
    await limitA.exchange();
    t.not(limitA.take('u', 0), 0, 'and A learns B spent the rest');
  });
}

t.test('redis rate share: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const cfg = nodeConfig(server);
  await suite(t, cfg);

  t.test('idle users cost nothing per exchange', async (t) => {
    const client = await readyClient(t, cfg, 'counted');
    const share = new RedisRateShare({ client, keyPrefix: uniquePrefix('r') });
    t.teardown(() => share.close());
    const limiter = new UserRateLimiter({ messagesPerSecond: 100, burst: 100 }, { share, nodeId: 'A', log: pino({ level: 'silent' }) });
    for (let i = 0; i < 5000; i++) limiter.opened(`user-${i}`, 0);
    await limiter.exchange();
    const before = await commandsRun(client);
    for (let i = 0; i < 10; i++) await limiter.exchange();
    const idle = (await commandsRun(client)) - before;
    t.ok(idle <= 10, `10 exchanges with 5,000 idle users ran ${idle} Redis commands (one read each at most)`);
    limiter.take('user-1', 0);
    limiter.take('user-2', 0);
    const busyBefore = await commandsRun(client);
    await limiter.exchange();
    const busy = (await commandsRun(client)) - busyBefore;
    t.ok(busy <= 3, `an exchange naming 2 active users of 5,000 ran ${busy} commands (report + expiry + read)`);
  });
});

t.test('redis rate share: 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  await suite(t, clusterConfig(cluster));
});
