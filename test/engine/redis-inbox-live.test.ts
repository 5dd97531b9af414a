/**
 * RedisInbox publishing live frames from its append script (issue 9 item 6): the frame
 * leaves with the seq and epoch filled in, in the broker's envelope (a RedisBroker
 * receives it like any broker message), never for a de-duplicated resend, and in seq
 * order when two nodes append for one user at once. On a node and on a 3-master
 * cluster (SPUBLISH inside EVALSHA), plus the key layout that makes the latter possible.
 */
import { unpack } from 'msgpackr';
import t from 'tap';
import type { RedisConfig } from '../../src/config/types.js';
import type { BrokerMessage } from '../../src/engine/broker.js';
import type { LivePublish } from '../../src/engine/inbox.js';
import { RedisBroker } from '../../src/engine/redis/broker.js';
import { hashSlot, inboxKeyBase } from '../../src/engine/redis/inbox-keys.js';
import { RedisInbox } from '../../src/engine/redis/inbox.js';
import { topics } from '../../src/core/topics.js';
import { encodeMsgpack } from '../../src/protocol/codec.js';
import { redisSuite, startRedis, startRedisCluster, type RedisServer } from '../helpers/redis.js';
import { clusterConfig, eventually, nodeConfig, quietLog, readyClient, uniquePrefix } from './redis-fixtures.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const EPOCH_PLACEHOLDER = '############';
const SEQ_PLACEHOLDER = 0xffffffff;

interface MessageFrame {
  type: string;
  data: { mid: string; from: string; to: string; content: unknown; timestamp: number; seq: number; epoch: string };
}

/** A `message` server frame with placeholders where the inbox writes the epoch and the seq. */
function liveFrame(to: string, mid: string, origin = 'node-a'): LivePublish {
  const payload = encodeMsgpack({
    type: 'message',
    data: { mid, from: 'alice', to, content: { mid }, timestamp: Date.now(), seq: SEQ_PLACEHOLDER, epoch: EPOCH_PLACEHOLDER },
  });
  const bytes = Buffer.from(payload);
  // 0xce: MessagePack uint32, the encoding the inbox overwrites in place.
  const seqAt = bytes.indexOf(Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff])) + 1;
  const epochAt = bytes.indexOf(Buffer.from(EPOCH_PLACEHOLDER));
  if (seqAt < 1 || epochAt < 0) throw new Error('placeholders not found in the encoded frame');
  return { topic: topics.user(to), payload, epochAt, seqAt, origin };
}

/** A RedisBroker subscribed to `topic`, recording every frame it receives (decoded). */
async function listener(t: TapTest, cfg: RedisConfig, topic: string): Promise<{ frames: MessageFrame[]; raw: BrokerMessage[] }> {
  const broker = new RedisBroker({ redis: cfg, log: quietLog });
  t.teardown(() => broker.close());
  const frames: MessageFrame[] = [];
  const raw: BrokerMessage[] = [];
  broker.onMessage((m) => {
    raw.push({ ...m, payload: Uint8Array.from(m.payload) });
    frames.push(unpack(m.payload) as MessageFrame);
  });
  await broker.subscribe(topic);
  return { frames, raw };
}

const entry = (to: string, mid: string): { mid: string; from: string; to: string; content: unknown; timestamp: number } =>
  ({ mid, from: 'alice', to, content: { mid }, timestamp: Date.now() });

async function suite(t: TapTest, name: string, cfg: (prefix: string) => RedisConfig): Promise<void> {
  t.test(`${name}: the append script publishes the frame with seq and epoch filled in; a duplicate publishes nothing`, async (t) => {
    const prefix = uniquePrefix('l');
    const client = await readyClient(t, cfg(prefix));
    const inbox = new RedisInbox({ client, keyPrefix: prefix, maxPerUser: 100, ttlMs: 60_000 });
    t.teardown(() => inbox.close());
    t.equal(inbox.publishesLive, true);
    const bob = await listener(t, cfg(prefix), topics.user('bob'));

    const results = [];
    for (const mid of ['m1', 'm2', 'm3']) results.push(await inbox.append('bob', entry('bob', mid), { live: liveFrame('bob', mid), dedup: { key: `alice:${mid}`, ttlMs: 60_000 } }));
    t.same(results.map((r) => r.receivers), [1, 1, 1], 'one subscribed node received each');
    const resend = await inbox.append('bob', entry('bob', 'm2-again'), { live: liveFrame('bob', 'm2-again'), dedup: { key: 'alice:m2', ttlMs: 60_000 } });
    t.match(resend, { seq: 2, duplicate: { mid: 'm2' } });
    t.equal(resend.receivers, undefined, 'nothing published for the duplicate');
    await inbox.append('bob', entry('bob', 'm4'), { live: liveFrame('bob', 'm4') });
    await eventually('4 frames', () => bob.frames.length >= 4);
    const epoch = results[0]!.epoch;
    t.same(bob.frames.map((f) => [f.data.mid, f.data.seq, f.data.epoch]), [['m1', 1, epoch], ['m2', 2, epoch], ['m3', 3, epoch], ['m4', 4, epoch]],
      'seq and epoch written into the frame; the resend never went out');
    t.same(bob.frames[0], { type: 'message', data: { ...bob.frames[0]!.data, mid: 'm1', from: 'alice', to: 'bob', content: { mid: 'm1' } } }, 'the rest of the frame untouched');
    t.same(bob.raw.map((m) => [m.topic, m.origin]), Array(4).fill(['u:bob', 'node-a']), 'the broker envelope: topic and origin');

    t.equal((await inbox.append('carol', entry('carol', 'c1'), { live: liveFrame('carol', 'c1') })).receivers, 0, 'nobody listens: 0 receivers');
    t.equal((await inbox.append('carol', entry('carol', 'c2'))).receivers, undefined, 'no live option: nothing published');
    t.same((await inbox.read('carol', 0, 10)).map((e) => e.mid), ['c1', 'c2'], 'stored either way');
  });

  t.test(`${name}: two nodes appending 1,000 messages for one user publish them in seq order`, async (t) => {
    const prefix = uniquePrefix('l');
    const one = new RedisInbox({ client: await readyClient(t, cfg(prefix), 'node-1'), keyPrefix: prefix, maxPerUser: 10_000, ttlMs: 60_000 });
    const two = new RedisInbox({ client: await readyClient(t, cfg(prefix), 'node-2'), keyPrefix: prefix, maxPerUser: 10_000, ttlMs: 60_000 });
    t.teardown(() => Promise.all([one.close(), two.close()]));
    const dave = await listener(t, cfg(prefix), topics.user('dave'));
    const calls: Promise<unknown>[] = [];
    // Interleaved: both connections have appends in flight at the same time throughout.
    for (let i = 0; i < 500; i++) {
      calls.push(one.append('dave', entry('dave', `a${i}`), { live: liveFrame('dave', `a${i}`, 'node-1') }));
      calls.push(two.append('dave', entry('dave', `b${i}`), { live: liveFrame('dave', `b${i}`, 'node-2') }));
    }
    await Promise.all(calls);
    await eventually('1,000 frames', () => dave.frames.length >= 1000, 10_000);
    const seqs = dave.frames.map((f) => f.data.seq);
    t.same(seqs, Array.from({ length: 1000 }, (_, i) => i + 1), 'published in strictly increasing seq order, none missing');
    t.ok(new Set(dave.raw.map((m) => m.origin)).size === 2, 'from both nodes');
    const stored = await one.read('dave', 0, 2000);
    t.same(dave.frames.map((f) => f.data.mid), stored.map((e) => e.mid), 'each frame carries the entry stored under its seq');
  });
}

t.test('redis inbox live frames: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  await suite(t, 'redis node', (prefix) => nodeConfig(server, prefix));

  t.test('a seq past uint32 cannot go into the frame: refused before anything is written', async (t) => {
    const prefix = uniquePrefix('l');
    const inbox = new RedisInbox({ client: await readyClient(t, nodeConfig(server, prefix)), keyPrefix: prefix, maxPerUser: 100, ttlMs: 60_000 });
    t.teardown(() => inbox.close());
    server.cli('hset', `{${prefix}u:big}:m`, 'seq', '4294967295', 'epoch', 'abcdefghijkl');
    await t.rejects(inbox.append('big', entry('big', 'x'), { live: liveFrame('big', 'x') }), /uint32/);
    t.equal(await inbox.lastSeq('big'), 4294967295, 'no seq used');
    t.same(await inbox.read('big', 0, 10), [], 'nothing stored');
    t.match(await inbox.append('big', entry('big', 'y')), { seq: 4294967296, epoch: 'abcdefghijkl' }, 'without a live frame the seq goes on');
  });
});

t.test('redis inbox live frames: 3-master cluster', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  const cfg = (prefix: string): RedisConfig => clusterConfig(cluster, prefix);
  await suite(t, 'redis cluster', cfg);
  const anyNode: RedisServer = cluster.nodes[0]!;
  const keyslot = (name: string): number => Number(anyNode.cli('cluster', 'keyslot', name).trim());

  t.test('key layout: every inbox key hashes like the user channel, braces included', async (t) => {
    const names = ['plain', 'a{b}c', '{x}', 'x}y', '}{', '{', '}', '{}', 'ü😀', 'u:1:2'];
    for (const prefix of ['sb:', 'p{q}:', 'p}:']) {
      for (const user of names) {
        const channel = `${prefix}u:${user}`;
        const base = inboxKeyBase(prefix, user);
        t.equal(hashSlot(channel), keyslot(channel), `hashSlot agrees with Redis for ${JSON.stringify(channel)}`);
        t.equal(keyslot(`${base}:e`), keyslot(channel), `${JSON.stringify(prefix)} + ${JSON.stringify(user)}: entries in the channel's slot`);
      }
    }
    t.equal(inboxKeyBase('sb:', 'alice'), '{sb:u:alice}', 'the common layout is the channel as hash tag');
  });

  t.test('users with braces: append with live frame, read, ack, sweep', async (t) => {
    const prefix = uniquePrefix('l');
    let now = Date.now();
    const client = await readyClient(t, cfg(prefix));
    const inbox = new RedisInbox({ client, keyPrefix: prefix, maxPerUser: 100, ttlMs: 1_000 }, () => now);
    t.teardown(() => inbox.close());
    const user = 'we{ir}d}';
    const sub = await listener(t, cfg(prefix), topics.user(user));
    const r = await inbox.append(user, { ...entry(user, 'w1'), timestamp: now }, { live: liveFrame(user, 'w1'), dedup: { key: 'x}:t', ttlMs: 60_000 } });
    t.match(r, { seq: 1, receivers: 1 });
    await eventually('the frame', () => sub.frames.length === 1);
    t.equal(sub.frames[0]!.data.seq, 1);
    t.same((await inbox.read(user, 0, 10)).map((e) => e.mid), ['w1']);
    await inbox.append(user, { ...entry(user, 'w2'), timestamp: now });
    t.same((await inbox.ack(user, 1, r.epoch)).map((e) => e.mid), ['w1']);
    now += 5_000;
    t.equal(await inbox.sweep(), 1, 'the sweep finds the brace layout and skips de-duplication records');
  });

  t.test('a live topic outside the user slot is refused before anything is stored', async (t) => {
    const prefix = uniquePrefix('l');
    const inbox = new RedisInbox({ client: await readyClient(t, cfg(prefix)), keyPrefix: prefix, maxPerUser: 100, ttlMs: 60_000 });
    t.teardown(() => inbox.close());
    // Pick a topic in another slot than the user's.
    let other = 'g:0';
    for (let i = 1; hashSlot(prefix + other) === hashSlot(`${prefix}u:erin`); i++) other = `g:${i}`;
    await t.rejects(inbox.append('erin', entry('erin', 'e1'), { live: { ...liveFrame('erin', 'e1'), topic: other } }), { code: 'BAD_REQUEST' });
    t.equal(await inbox.lastSeq('erin'), 0);
  });
});
