import t from 'tap';
import { spawnGateway } from '../helpers/process.js';
import { TestClient } from '../helpers/client.js';
import { tempDir } from '../helpers/gateway.js';
import { token } from '../helpers/tokens.js';

for (const engine of ['journal', 'lmdb']) t.test(`${engine}: a direct message resent after the gateway was killed (SIGKILL) and restarted gets the original mid, and one copy`, async (t) => {
  const dir = tempDir(t, 'switchboard-resend-');
  const settings = { Offline: { Engine: engine, Path: dir } };
  const first = await spawnGateway(t, settings);
  const sender = await TestClient.connect(first.url, { token: await token({ sub: 'sam' }) });
  const ack = await sender.request({ type: 'message', id: 'order-77', data: { to: 'rita', content: { order: 77 } } });
  t.equal(ack.data.status, 'stored');
  // The client never saw that ack (say its connection died with the node) and resends.
  first.child.kill('SIGKILL');
  await first.exited;
  const second = await spawnGateway(t, settings);
  const again = await TestClient.connect(second.url, { token: await token({ sub: 'sam' }) });
  const resent = await again.request({ type: 'message', id: 'order-77', data: { to: 'rita', content: { order: 77 } } });
  t.equal(resent.data.mid, ack.data.mid, 'the original mid');
  t.equal(resent.data.seq, ack.data.seq, 'the original seq');
  t.equal(resent.data.duplicate, true);
  const rita = await TestClient.connect(second.url, { token: await token({ sub: 'rita' }) });
  const synced = await rita.request({ type: 'sync', data: { after: Number.MAX_SAFE_INTEGER } });
  t.equal(synced.data.count, 0);
  t.same(rita.ofType('message').map((m) => m.data.mid), [ack.data.mid], 'the recipient has exactly one copy');
});
