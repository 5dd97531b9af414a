import t from 'tap';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { redisSuite, startRedis } from '../helpers/redis.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/** Recovery across two gateway processes sharing one real redis-server. */

const SETTINGS = {
  Presence: { OfflineGrace: '200ms' },
  Offline: { Engine: 'memory' },
  Limits: { RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } },
  Groups: { Rules: [{ Match: 'live:*', Join: 'open', History: { Size: 500, TTL: '1h' } }] },
};

async function ready(g: GatewayProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await fetch(`${g.httpUrl}/readyz`)).status !== 200) {
    if (Date.now() > deadline) throw new Error('node not ready');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const isGroup = (f: Frame) => f.type === 'group';

t.test('recovery across two nodes in cluster mode', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [n1, n2] = await Promise.all([1, 2].map((i) => spawnGateway(t, {
    ...SETTINGS, Redis: { Host: redis.address, KeyPrefix: 'sbrec:' }, Cluster: { NodeLease: '1500ms', NodeId: `node-${i}` },
  })));
  await ready(n1!);
  await ready(n2!);

  const host = await TestClient.connect(n1!.url, { token: await token({ sub: 'host' }) });
  await host.request({ type: 'join', data: { group: 'live:1' } });
  let viewer = await TestClient.connect(n2!.url, { token: await token({ sub: 'viewer' }) });
  await viewer.request({ type: 'join', data: { group: 'live:1' } });
  const first = await host.request({ type: 'group', data: { group: 'live:1', content: 0 } });
  const seen = await viewer.next(isGroup);
  t.equal(seen.data.offset, first.data.offset, 'offsets cross nodes');
  t.equal(seen.data.epoch, first.data.epoch);
  await viewer.close();

  const missed = [];
  for (let i = 1; i <= 50; i++) missed.push(await host.request({ type: 'group', data: { group: 'live:1', content: i } }));

  // The viewer comes back on the other node while the host keeps publishing.
  viewer = await TestClient.connect(n1!.url, { token: await token({ sub: 'viewer' }) });
  const during: Promise<Frame>[] = [];
  for (let i = 51; i <= 60; i++) during.push(host.request({ type: 'group', data: { group: 'live:1', content: i } }));
  const ack = await viewer.request({ type: 'join', data: { group: 'live:1', since: { offset: seen.data.offset, epoch: seen.data.epoch } } });
  await Promise.all(during);
  t.equal(ack.data.recovered, true);
  t.equal(ack.data.epoch, first.data.epoch);
  const frames: Frame[] = [];
  while (frames.length < 60) frames.push(await viewer.next(isGroup, 10_000));
  t.same(frames.map((f) => f.data.content), Array.from({ length: 60 }, (_, i) => i + 1), 'the 50 missed, then the 10 live, in order');
  t.same(frames.slice(0, 50).map((f) => f.data.mid), missed.map((a) => a.data.mid));
  t.ok(frames.slice(0, 50).every((f) => f.data.recovered === true), 'the missed ones are flagged');

  // A publish from the other node reaches the recovered viewer live, once.
  const other = await TestClient.connect(n2!.url, { token: await token({ sub: 'other' }) });
  await other.request({ type: 'join', data: { group: 'live:1' } });
  const cross = await other.request({ type: 'group', data: { group: 'live:1', content: 'from node 2' } });
  t.equal((await viewer.next(isGroup)).data.mid, cross.data.mid, 'the next frame is the live one from node 2');
  t.equal(cross.data.offset, 62, 'one offset sequence for both nodes');
  await viewer.request({ type: 'ping' });
  t.equal(viewer.ofType('group').length, 0, 'no duplicate');

  // History wiped (a Redis FLUSHALL): the epoch changes, and the viewer is told so.
  redis.cli('FLUSHALL');
  await host.request({ type: 'group', data: { group: 'live:1', content: 'after the wipe' } });
  const again = await TestClient.connect(n2!.url, { token: await token({ sub: 'late' }) });
  const lost = await again.request({ type: 'join', data: { group: 'live:1', since: { offset: 62, epoch: first.data.epoch } } });
  t.equal(lost.data.recovered, false);
  t.not(lost.data.epoch, first.data.epoch, 'a new epoch');
  for (const c of [host, viewer, other, again]) await c.close();
});
