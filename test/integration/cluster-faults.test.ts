import t from 'tap';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { redisSuite, startRedis } from '../helpers/redis.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/**
 * Delivery guarantees under Redis faults, with message counts: real redis-server
 * processes (killed, restarted empty, frozen) and real gateway processes.
 */

t.setTimeout(300_000);

const FAST = {
  Presence: { OfflineGrace: '200ms' },
  Cluster: { NodeLease: '1500ms' },
  Offline: { Engine: 'memory', MaxPerUser: 100_000 },
  Limits: { RateLimit: { MessagesPerSecond: 100_000, Burst: 100_000 } },
};

function nodes(t: { teardown(fn: () => unknown): void }, address: string, n: number): Promise<GatewayProcess[]> {
  return Promise.all(Array.from({ length: n }, (_, i) =>
    spawnGateway(t, { ...FAST, Redis: { Host: address, KeyPrefix: 'sbfault:' }, Cluster: { ...FAST.Cluster, NodeId: `fault-${i + 1}` } })));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ready = async (g: GatewayProcess): Promise<boolean> => (await fetch(`${g.httpUrl}/readyz`)).status === 200;

/**
 * A receiver that acknowledges every message as it arrives (cumulatively, naming the
 * epoch), as a real client would, and remembers every mid it saw.
 */
/**
 * A receiver that acknowledges the way docs/protocol.md asks (and the SDK does):
 * cumulatively, but never past a gap. A seq gap within an epoch (a live frame missed
 * while the node's subscription was being restored) is filled with `sync {after}`
 * before the ack moves past it. Returns the mids seen.
 */
function acking(client: TestClient): Set<string> {
  const seen = new Set<string>();
  let epoch = '';
  let contiguous = 0;
  const held = new Map<number, string>();
  let asked = -1;
  client.ws.on('message', () => {
    for (const f of client.frames.splice(0)) {
      if (f.type !== 'message') continue;
      seen.add(f.data.mid as string);
      const seq = f.data.seq as number;
      if (f.data.epoch !== epoch) {
        // A new epoch starts the sequence again (the inbox store was lost).
        epoch = f.data.epoch as string;
        contiguous = 0;
        held.clear();
        asked = -1;
      }
      if (seq > contiguous) held.set(seq, epoch);
      while (held.has(contiguous + 1)) held.delete(++contiguous);
      if (held.size > 0 && asked !== contiguous) {
        asked = contiguous;
        client.send({ type: 'sync', data: { after: contiguous } });
      }
      client.send({ type: 'ack', data: { upTo: contiguous, epoch } });
    }
  });
  return seen;
}

t.test('Redis restarted empty during a stream of direct messages: nothing acknowledged to a sender is lost', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [a, b] = await nodes(t, redis.address, 2);
  for (const g of [a!, b!]) await until('node ready', () => ready(g));
  const sender = await TestClient.connect(a!.url, { token: await token({ sub: 'stream-sender' }) });
  const receiver = await TestClient.connect(b!.url, { token: await token({ sub: 'stream-receiver' }) });
  const seen = acking(receiver);

  const acked = new Map<string, Frame>();
  let refused = 0;
  const total = 400;
  for (let i = 0; i < total; i++) {
    if (i === 150) {
      await redis.kill();
      await redis.restart(); // empty: nothing is persisted in tests
    }
    // After the restart, paced over a few seconds: the nodes re-register their
    // connections meanwhile, so messages go out both before and after presence knows
    // the receiver again (the window in which acknowledged messages used to be lost).
    if (i > 150) await new Promise((r) => setTimeout(r, 15));
    // A client resends what was refused, with the same id, until it is answered.
    for (let attempt = 0; ; attempt++) {
      const reply = await sender.request({ type: 'message', id: `s-${i}`, data: { to: 'stream-receiver', content: i } }, 10_000);
      if (reply.type === 'ack') {
        acked.set(reply.data.mid as string, reply);
        break;
      }
      refused += 1;
      if (attempt > 200) throw new Error(`message ${i} refused ${attempt} times: ${JSON.stringify(reply.data)}`);
      await until('the nodes to be ready again', async () => (await ready(a!)) && (await ready(b!)));
    }
  }
  // What the receiver missed live (a subscription not yet restored) is in its inbox: a
  // new connection replays it.
  const late = await TestClient.connect(b!.url, { token: await token({ sub: 'stream-receiver' }) });
  const lateSeen = acking(late);
  await late.request({ type: 'sync', data: { after: Number.MAX_SAFE_INTEGER } });
  const lost = [...acked.keys()].filter((mid) => !seen.has(mid) && !lateSeen.has(mid));
  t.equal(acked.size, total, `every message was acknowledged in the end (${refused} refusals while Redis was down, resent with the same id)`);
  t.same(lost, [], `none of the ${acked.size} acknowledged messages was lost (${seen.size} live, ${lateSeen.size} replayed)`);
  t.ok([...acked.values()].some((f) => f.data.epoch !== [...acked.values()][0]!.data.epoch), 'the inbox epoch changed with the empty restart');
});

t.test('two senders on two nodes writing to one user: the receiver never sees seq n+1 before n', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [a, b, c] = await nodes(t, redis.address, 3);
  for (const g of [a!, b!, c!]) await until('node ready', () => ready(g));
  const receiver = await TestClient.connect(c!.url, { token: await token({ sub: 'order-receiver' }) });
  const s1 = await TestClient.connect(a!.url, { token: await token({ sub: 'order-s1' }) });
  const s2 = await TestClient.connect(b!.url, { token: await token({ sub: 'order-s2' }) });
  const per = 600;
  const sendAll = async (s: TestClient, tag: string): Promise<void> => {
    // Pipelined, 50 outstanding: both nodes append at full speed at the same time.
    const inflight = new Set<Promise<Frame>>();
    for (let i = 0; i < per; i++) {
      const p = s.request({ type: 'message', data: { to: 'order-receiver', content: `${tag}${i}` } }, 20_000);
      inflight.add(p);
      void p.then(() => inflight.delete(p));
      if (inflight.size >= 50) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  };
  await Promise.all([sendAll(s1, 'a'), sendAll(s2, 'b')]);
  await until('every message delivered live', () => receiver.ofType('message').length >= 2 * per);
  const seqs = receiver.ofType('message').map((m) => m.data.seq as number);
  let inversions = 0;
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! <= seqs[i - 1]!) inversions += 1;
  t.equal(seqs.length, 2 * per, `${2 * per} messages delivered`);
  t.equal(inversions, 0, 'no seq inversion in the live stream');
  t.same(seqs, Array.from({ length: 2 * per }, (_, i) => i + 1), 'seq 1..1200 in order');
});

t.test('a frozen Redis (SIGSTOP) turns /readyz to 503 within 2 s and back to 200 once it answers', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const [a] = await nodes(t, redis.address, 1);
  await until('node ready', () => ready(a!));
  redis.freeze();
  t.teardown(() => redis.thaw());
  const frozenAt = Date.now();
  await until('not ready', async () => !(await ready(a!)), 5_000);
  const noticed = Date.now() - frozenAt;
  t.ok(noticed <= 2_000, `not ready ${noticed} ms after Redis froze`);
  const body = await (await fetch(`${a!.httpUrl}/readyz`)).json() as { reason?: string };
  t.match(body.reason, /stalled/, 'the reason says Redis is stalled');
  redis.thaw();
  const thawedAt = Date.now();
  await until('ready again', () => ready(a!), 5_000);
  t.ok(Date.now() - thawedAt <= 2_000, `ready again ${Date.now() - thawedAt} ms after Redis answers`);
});

t.test('group messages published while a node\'s pub/sub connection was down reach its members from history', redisSuite(), async (t) => {
  const redis = await startRedis(t);
  const rules = { Groups: { Rules: [{ Match: 'hist:*', Join: 'open', History: { Size: 1000, TTL: '1h' } }] } };
  const [a, b] = await Promise.all([1, 2].map((i) => spawnGateway(t, {
    ...FAST, ...rules, Redis: { Host: redis.address, KeyPrefix: 'sbgap:' }, Cluster: { ...FAST.Cluster, NodeId: `gap-${i}` },
  })));
  for (const g of [a!, b!]) await until('node ready', () => ready(g));
  const publisher = await TestClient.connect(a!.url, { token: await token({ sub: 'gap-pub' }) });
  const member = await TestClient.connect(b!.url, { token: await token({ sub: 'gap-member' }) });
  for (const c of [publisher, member]) t.equal((await c.request({ type: 'join', data: { group: 'hist:1' } })).data.status, 'ok');
  await publisher.request({ type: 'group', data: { group: 'hist:1', content: 0 } });
  await member.next((f) => f.type === 'group' && f.data.content === 0);
  // Every subscriber connection is cut (the nodes reconnect them by themselves); what is
  // published meanwhile never reaches node b through pub/sub.
  redis.cli('client', 'kill', 'type', 'pubsub');
  for (let i = 1; i <= 20; i++) await publisher.request({ type: 'group', data: { group: 'hist:1', content: i } });
  await until('every message at the member', () => member.ofType('group').length >= 20, 20_000);
  await member.request({ type: 'ping' });
  const frames = member.ofType('group');
  const got = frames.map((f) => f.data.content as number);
  // The missed ones come after the outage, later than the live ones sent after it: a
  // client orders group messages of a history group by offset.
  t.same([...got].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), 'all 20, none twice');
  const offsets = frames.map((f) => f.data.offset as number).sort((x, y) => x - y);
  t.same(offsets, Array.from({ length: 20 }, (_, i) => offsets[0]! + i), 'contiguous offsets: nothing missing in history order');
});
