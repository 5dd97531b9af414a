import { createServer } from 'node:net';
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

t.test('redis harness: a server that cannot bind fails at once with its own log', redisSuite(), async (t) => {
  // Occupy a port, then ask for a server on exactly that port.
  const blocker = createServer((socket) => socket.destroy());
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const { port } = blocker.address() as { port: number };
  const started = Date.now();
  await t.rejects(startRedis(t, [], port), /exited.*(in use|bind)/i, 'the failure quotes redis-server\'s log');
  t.ok(Date.now() - started < 5_000, 'without waiting out the ready timeout');
});

t.test('redis harness: cluster nodes get ports whose bus port is free', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  for (const node of cluster.nodes) {
    t.ok(node.port + 10_000 <= 65_535, `bus port of ${node.port} is a valid port`);
    t.match(node.cli('cluster', 'myid').trim(), /^[0-9a-f]{40}$/, 'the node runs in cluster mode (its bus bound)');
  }
});
