import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { redisSuite, startRedis } from '../helpers/redis.js';
import { scrapeUntil } from '../helpers/prometheus.js';

t.test('switchboard_redis_connected follows the Redis connection', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const { httpUrl } = await startGateway(t, { Redis: { Host: redis.address, KeyPrefix: 'sbmetrics:' } });
  await scrapeUntil(httpUrl, (s) => s.value('switchboard_redis_connected') === 1, 10_000);
  await redis.kill();
  const down = await scrapeUntil(httpUrl, (s) => s.has('switchboard_redis_connected') && s.value('switchboard_redis_connected') === 0, 10_000);
  t.equal(down.value('switchboard_redis_connected'), 0, 'down while Redis is gone');
  await redis.restart();
  const up = await scrapeUntil(httpUrl, (s) => s.value('switchboard_redis_connected') === 1, 15_000);
  t.equal(up.value('switchboard_redis_connected'), 1, 'up again once Redis is back');
});
