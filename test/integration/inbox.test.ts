import t from 'tap';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { spawnGateway } from '../helpers/process.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

const isMessage = (f: Frame) => f.type === 'message';

async function collect(c: TestClient, n: number, timeoutMs = 10_000): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let i = 0; i < n; i++) out.push(await c.next(isMessage, timeoutMs));
  return out;
}

t.test('offline inbox: stored, replayed in order, partial ack, replay of the rest, receipts', async (t) => {
  const { url } = await startGateway(t, { Presence: { OfflineGrace: '50ms' } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  const mids: string[] = [];
  for (let i = 1; i <= 100; i++) {
    const ack = await a.request({ type: 'message', data: { to: 'bob', content: { i } } });
    t.equal(ack.data.status, 'stored');
    mids.push(ack.data.mid);
  }
  t.equal(new Set(mids).size, 100, 'every mid is unique');

  const bobToken = await token({ sub: 'bob' });
  let b = await TestClient.connect(url, { token: bobToken, format: 'msgpack' });
  const first = await collect(b, 100);
  t.same(first.map((m) => m.data.seq), Array.from({ length: 100 }, (_, i) => i + 1), 'seq 1..100 in order');
  t.same(first.map((m) => m.data.content.i), Array.from({ length: 100 }, (_, i) => i + 1), 'contents in send order');
  t.ok(first.every((m) => m.data.offline === true && m.data.from === 'alice' && m.data.to === 'bob'), 'marked offline, seed fields intact');
  t.same(first.map((m) => m.data.mid), mids, 'same mids as the acks');

  const acked = await b.request({ type: 'ack', data: { upTo: 60 } });
  t.equal(acked.data.removed, 60);
  const receipts: Frame[] = [];
  for (let i = 0; i < 60; i++) receipts.push(await a.next((f) => f.type === 'receipt'));
  t.same(receipts.map((r) => r.data.mid), mids.slice(0, 60), 'a receipt per acknowledged message, in order');
  t.ok(receipts.every((r) => r.data.to === 'bob' && r.data.status === 'delivered'));
  await b.close();

  b = await TestClient.connect(url, { token: bobToken });
  const second = await collect(b, 40);
  t.same(second.map((m) => m.data.seq), Array.from({ length: 40 }, (_, i) => i + 61), 'only 61..100 replayed');
  await b.request({ type: 'ping' });
  t.equal(b.ofType('message').length, 0, 'nothing else replayed');
  await b.request({ type: 'ack', data: { upTo: 100 } });
  for (let i = 0; i < 40; i++) receipts.push(await a.next((f) => f.type === 'receipt'));
  t.same(receipts.map((r) => r.data.mid), mids, 'receipts for all 100 messages');

  // Live messages continue the sequence.
  const live = await a.request({ type: 'message', data: { to: 'bob', content: 'live' } });
  t.equal(live.data.status, 'delivered');
  const m = await b.next(isMessage);
  t.equal(m.data.seq, 101);
  t.equal(m.data.offline, undefined, 'live messages are not marked offline');
  const sync = await b.request({ type: 'sync', data: { after: 100 } });
  t.equal(sync.data.count, 1, 'sync replays the unacknowledged message after 100');
  t.equal((await b.next(isMessage)).data.seq, 101);
  await Promise.all([a.close(), b.close()]);
});

t.test('overflow past MaxPerUser drops the oldest and tells the client how many', async (t) => {
  const { url } = await startGateway(t, { Offline: { MaxPerUser: 10 } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  for (let i = 1; i <= 25; i++) await a.request({ type: 'message', data: { to: 'carol', content: i } });
  const c = await TestClient.connect(url, { token: await token({ sub: 'carol' }) });
  const notice = await c.next((f) => f.type === 'sync');
  t.equal(notice.data.dropped, 15, 'told that 15 were lost');
  const got = await collect(c, 10);
  t.same(got.map((m) => m.data.content), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'the newest 10 kept');
  t.same(got.map((m) => m.data.seq), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'seq never reused');
  await Promise.all([a.close(), c.close()]);
});

t.test('TTL expiry removes old messages and reports them', async (t) => {
  const { url, gateway } = await startGateway(t, { Offline: { TTL: '300ms' } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  for (let i = 1; i <= 3; i++) await a.request({ type: 'message', data: { to: 'dan', content: i } });
  await new Promise((r) => setTimeout(r, 500));
  await a.request({ type: 'message', data: { to: 'dan', content: 'fresh' } });
  t.equal(await gateway.engines.inbox.sweep(), 3, 'the sweep removes the three expired messages');
  const d = await TestClient.connect(url, { token: await token({ sub: 'dan' }) });
  t.equal((await d.next((f) => f.type === 'sync')).data.dropped, 3);
  const [only] = await collect(d, 1);
  t.equal(only!.data.content, 'fresh');
  await d.request({ type: 'ping' });
  t.equal(d.ofType('message').length, 0, 'expired messages are not delivered');
  await Promise.all([a.close(), d.close()]);
});

for (const engine of ['journal', 'lmdb']) t.test(`crash (${engine}): 1000 stored messages survive SIGKILL and are delivered in order after restart`, async (t) => {
  const dataDir = tempDir(t, 'switchboard-crash-');
  const settings = { Offline: { Engine: engine, Path: dataDir }, Limits: { RateLimit: { MessagesPerSecond: 100000, Burst: 100000 } } };
  const first = await spawnGateway(t, settings);
  const senders = await Promise.all([0, 1, 2, 3].map(async (i) => TestClient.connect(first.url, { token: await token({ sub: `sender${i}` }), format: 'msgpack' })));
  const users = ['u0', 'u1', 'u2', 'u3', 'u4'];
  const expected = new Map<string, string[]>(users.map((u) => [u, []]));
  // 1000 messages, 4 senders in parallel, 200 per recipient; every ack must say stored.
  await Promise.all(senders.map(async (s, si) => {
    for (let i = 0; i < 250; i++) {
      const to = users[(si * 250 + i) % users.length]!;
      const ack = await s.request({ type: 'message', data: { to, content: { si, i } } });
      if (ack.data.status !== 'stored') throw new Error(`ack ${JSON.stringify(ack)}`);
      expected.get(to)!.push(ack.data.mid);
    }
  }));
  first.child.kill('SIGKILL');
  t.equal((await first.exited).signal, 'SIGKILL');

  const second = await spawnGateway(t, settings);
  let total = 0;
  for (const u of users) {
    const c = await TestClient.connect(second.url, { token: await token({ sub: u }), format: 'msgpack' });
    const got = await collect(c, expected.get(u)!.length, 20_000);
    const seqs = got.map((m) => m.data.seq);
    t.same(seqs, [...seqs].sort((x, y) => x - y), `${u}: in seq order`);
    const unique = new Set(got.map((m) => m.data.mid));
    t.same([...unique].sort(), [...expected.get(u)!].sort(), `${u}: every acknowledged mid, none twice after de-duplication`);
    total += unique.size;
    await c.close();
  }
  t.equal(total, 1000, 'all 1000 delivered');
  second.child.kill('SIGTERM');
  t.equal((await second.exited).code, 0);
});
