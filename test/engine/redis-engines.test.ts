import t from 'tap';
import { createRedisEngines } from '../../src/engine/redis/engines.js';
import { RedisHealth } from '../../src/engine/redis/connection.js';
import { redisSuite, startRedis } from '../helpers/redis.js';
import { eventually, nodeConfig, quietLog, uniquePrefix } from './redis-fixtures.js';

t.test('redis engines: readiness follows Redis, recovery is announced once', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const health = new RedisHealth(quietLog);
  const engines = await createRedisEngines(nodeConfig(server, uniquePrefix('e')), { maxPerUser: 10, ttlMs: 60_000 }, 'n1', quietLog, health);
  t.teardown(() => engines.close());
  let recovered = 0;
  engines.onRecovered(() => { recovered += 1; });
  await eventually('ready', () => engines.notReadyReason() === null);
  const now = Date.now();
  t.match(await engines.inbox.append('u', { mid: 'm', from: 'f', to: 'u', content: 1, timestamp: now }), { seq: 1, epoch: /^[0-9a-z]{12}$/, dropped: 0 });
  t.equal((await engines.presence.connect('u', 'c', 'n1', now)).count, 1);

  await server.kill();
  await eventually('not ready', () => engines.notReadyReason() !== null);
  t.match(engines.notReadyReason(), /redis (commands|publisher|subscriber)/);
  await server.restart();
  await eventually('ready again', () => engines.notReadyReason() === null, 10_000);
  // Every connection is ready again, so every recovery has been reported; once none is
  // being coalesced any more, the count is final.
  await eventually('recovery announced', () => recovered > 0 && !health.recoveryPending, 2_000);
  t.equal(recovered, 1, 'three connections came back: one announcement');

  // The restarted Redis lost its data (nothing persisted in tests): the lease is gone too.
  await engines.presence.heartbeat('n1', 60_000, Date.now());
  await engines.presence.heartbeat('n1', 60_000, Date.now());
  server.cli('flushall');
  await engines.presence.heartbeat('n1', 60_000, Date.now());
  await eventually('lease loss announced', () => recovered > 1 && !health.recoveryPending, 2_000);
  t.equal(recovered, 2, 'a lapsed lease is announced as a recovery (once), so the node re-registers');
});

t.test('redis engines: a cluster key prefix with braces is refused', async (t) => {
  const cfg = { host: '127.0.0.1:1', endpoints: [{ host: '127.0.0.1', port: 1 }], type: 'cluster' as const, password: undefined, db: 0, keyPrefix: 'sb{x}:' };
  await t.rejects(createRedisEngines(cfg, { maxPerUser: 10, ttlMs: 1000 }, 'n1', quietLog), /KeyPrefix/);
});

t.test('redis engines: a frozen Redis (SIGSTOP) makes the node not ready within 2 s, ready again when it answers', redisSuite(), async (t) => {
  const server = await startRedis(t);
  const engines = await createRedisEngines(nodeConfig(server, uniquePrefix('s')), { maxPerUser: 10, ttlMs: 60_000 }, 'n1', quietLog);
  t.teardown(() => engines.close());
  await eventually('ready', () => engines.notReadyReason() === null);
  server.freeze();
  t.teardown(() => server.thaw());
  const frozenAt = Date.now();
  await eventually('not ready', () => engines.notReadyReason() !== null, 5_000);
  const noticed = Date.now() - frozenAt;
  t.ok(noticed <= 2_000, `not ready ${noticed} ms after the stall (the connections stay open)`);
  t.match(engines.notReadyReason(), /stalled/);
  server.thaw();
  const thawedAt = Date.now();
  await eventually('ready again', () => engines.notReadyReason() === null, 5_000);
  t.ok(Date.now() - thawedAt <= 2_500, `ready again ${Date.now() - thawedAt} ms after Redis answers`);
});
