import t from 'tap';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';

t.test('redis harness: a server on a free port survives kill and restart', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  t.equal(redis.cli('ping').trim(), 'PONG');
  redis.cli('set', 'k', 'v');
  await redis.kill();
  await redis.restart();
  t.equal(redis.cli('get', 'k').trim(), '', 'nothing persisted across a restart');
});

t.test('redis harness: a 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  t.equal(cluster.nodes.length, 3);
  t.match(cluster.nodes[0]!.cli('cluster', 'info'), /cluster_size:3/);
});
