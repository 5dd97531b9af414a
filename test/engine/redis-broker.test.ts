import { Writable } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import type { RedisConfig } from '../../src/config/types.js';
import type { BrokerMessage } from '../../src/engine/broker.js';
import { RedisBroker } from '../../src/engine/redis/broker.js';
import { RedisHealth, waitReady } from '../../src/engine/redis/connection.js';
import { redisSuite, startRedis, startRedisCluster } from '../helpers/redis.js';
import { clusterConfig, eventually, nodeConfig, quietLog, uniquePrefix } from './redis-fixtures.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** A broker that records what it receives. */
interface Node {
  broker: RedisBroker;
  got: BrokerMessage[];
  /** Resolves with the first received message on `topic` whose payload text is `text`. */
  next(topic: string, text: string, timeoutMs?: number): Promise<BrokerMessage>;
  texts(topic: string): string[];
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (m: BrokerMessage): string => new TextDecoder().decode(m.payload);

async function node(t: TapTest, cfg: RedisConfig, health?: RedisHealth, log = quietLog): Promise<Node> {
  const broker = new RedisBroker({ redis: cfg, log, ...(health === undefined ? {} : { health }) });
  t.teardown(() => broker.close());
  const got: BrokerMessage[] = [];
  const waiters: { topic: string; text: string; resolve: (m: BrokerMessage) => void }[] = [];
  broker.onMessage((m) => {
    // Copy: the payload is a view of ioredis' reply buffer.
    const copy = { ...m, payload: Uint8Array.from(m.payload) };
    got.push(copy);
    for (const w of waiters.splice(0)) {
      if (w.topic === m.topic && w.text === text(copy)) w.resolve(copy);
      else waiters.push(w);
    }
  });
  await waitReady(broker.publisher);
  return {
    broker,
    got,
    texts: (topic) => got.filter((m) => m.topic === topic).map(text),
    next: (topic, wanted, timeoutMs = 5_000) => {
      const seen = got.find((m) => m.topic === topic && text(m) === wanted);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message "${wanted}" on ${topic} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ topic, text: wanted, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      });
    },
  };
}

/**
 * Subscribe/publish/unsubscribe, ordering and prefix isolation: the same for SUBSCRIBE
 * and sharded pub/sub. Topics carry a `{tag}` so that in a cluster the topic and its
 * "barrier" share a slot (one shard, one ordered stream): a barrier published after X
 * that arrives proves X, published earlier, would have arrived before it.
 */
async function basics(t: TapTest, cfgOf: (prefix: string) => RedisConfig): Promise<void> {
  const prefix = uniquePrefix('b');
  const a = await node(t, cfgOf(prefix));
  const b = await node(t, cfgOf(prefix));

  t.test('a message reaches the other node, with its topic, origin and bytes', async (t) => {
    await b.broker.subscribe('{k}u:alice');
    await b.broker.subscribe('{k}u:alice');
    const payload = Uint8Array.from([0, 1, 2, 255, 0x3a, 0]);
    await a.broker.publish({ topic: '{k}u:alice', payload, origin: 'node-a' });
    await b.next('{k}u:alice', new TextDecoder().decode(payload));
    const m = b.got.find((x) => x.topic === '{k}u:alice')!;
    t.same(m, { topic: '{k}u:alice', payload, origin: 'node-a' });
    t.equal(a.got.length, 0, 'a node not subscribed gets nothing');
  });

  t.test('unsubscribe stops delivery', async (t) => {
    await b.broker.subscribe('{k}gone');
    await b.broker.subscribe('{k}barrier');
    await b.broker.unsubscribe('{k}gone');
    await b.broker.unsubscribe('{k}gone');
    await a.broker.publish({ topic: '{k}gone', payload: bytes('lost'), origin: 'node-a' });
    await a.broker.publish({ topic: '{k}barrier', payload: bytes('after'), origin: 'node-a' });
    await b.next('{k}barrier', 'after');
    t.same(b.texts('{k}gone'), [], 'nothing on the unsubscribed topic');
  });

  t.test('1000 messages from one publisher on one topic arrive in order', async (t) => {
    await b.broker.subscribe('{o}room');
    const sent = Array.from({ length: 1000 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((s) => a.broker.publish({ topic: '{o}room', payload: bytes(s), origin: 'node-a' })));
    await b.next('{o}room', 'm999');
    t.same(b.texts('{o}room'), sent);
  });

  t.test('key prefixes isolate two clusters on one Redis', async (t) => {
    const other = await node(t, cfgOf(uniquePrefix('b')));
    await other.broker.subscribe('{k}u:alice');
    await other.broker.subscribe('{k}barrier2');
    await a.broker.publish({ topic: '{k}u:alice', payload: bytes('not for you'), origin: 'node-a' });
    await b.next('{k}u:alice', 'not for you');
    await other.broker.publish({ topic: '{k}barrier2', payload: bytes('own'), origin: 'node-x' });
    await other.next('{k}barrier2', 'own');
    t.same(other.texts('{k}u:alice'), [], 'the other prefix heard nothing');
  });

  t.test('subscribe right after start resolves only once subscribed', async (t) => {
    const fresh = new RedisBroker({ redis: cfgOf(prefix), log: quietLog });
    t.teardown(() => fresh.close());
    const got: string[] = [];
    fresh.onMessage((m) => got.push(text(m)));
    await fresh.subscribe('{f}early');
    // Redis delivers a PUBLISH to the subscribers it has when it runs it: had the
    // subscription not been in place yet, this message would be lost.
    await a.broker.publish({ topic: '{f}early', payload: bytes('first'), origin: 'node-a' });
    await eventually('the first message', () => got.includes('first'), 5_000);
    t.same(got, ['first']);
  });

  t.test('bad input is refused', async (t) => {
    await t.rejects(a.broker.publish({ topic: '', payload: bytes('x'), origin: 'n' }), TypeError);
    await t.rejects(a.broker.publish({ topic: 't', payload: 'x' as never, origin: 'n' }), TypeError);
    await t.rejects(a.broker.publish({ topic: 't', payload: bytes('x'), origin: 'é'.repeat(200) }), RangeError);
    await t.rejects(a.broker.subscribe(''), TypeError);
  });
}

/** Both nodes subscribed to `topic`; kills and restarts `server`; checks outage behaviour and recovery. */
async function outage(t: TapTest, a: Node, b: Node, health: RedisHealth, topic: string, kill: () => Promise<void>, restart: () => Promise<void>): Promise<void> {
  await a.broker.subscribe(topic);
  await b.broker.subscribe(topic);
  await a.broker.publish({ topic, payload: bytes('before'), origin: 'a' });
  await b.next(topic, 'before');
  t.equal(health.notReadyReason(), null, 'healthy before');

  await kill();
  await eventually('the publisher to notice', () => a.broker.publisher.status !== 'ready' || health.notReadyReason() !== null);
  const started = Date.now();
  await t.rejects(a.broker.publish({ topic, payload: bytes('during'), origin: 'a' }), { code: 'UNAVAILABLE' });
  t.ok(Date.now() - started < 3_000, `publish while down rejects promptly (${Date.now() - started} ms)`);
  t.not(health.notReadyReason(), null, `health names the problem: ${health.notReadyReason()}`);
  await b.broker.subscribe(`${topic}:late`);

  await restart();
  const back = Date.now();
  // Publish until both directions flow again: resubscription happens on reconnect, by itself.
  let n = 0;
  await eventually('messages to flow again both ways', async () => {
    n += 1;
    const results = await Promise.allSettled([
      a.broker.publish({ topic, payload: bytes(`after-a-${n}`), origin: 'a' }),
      b.broker.publish({ topic, payload: bytes(`after-b-${n}`), origin: 'b' }),
      a.broker.publish({ topic: `${topic}:late`, payload: bytes(`late-${n}`), origin: 'a' }),
    ]);
    if (results.some((r) => r.status === 'rejected')) return false;
    // Delivery is asynchronous to the publish reply: any message of any round counts.
    return b.texts(topic).some((x) => x.startsWith('after-a-')) && a.texts(topic).some((x) => x.startsWith('after-b-'))
      && b.texts(`${topic}:late`).length > 0;
  }, 10_000, 100);
  t.ok(b.texts(`${topic}:late`).length > 0, `flowing again ${Date.now() - back} ms after the restart, including a topic subscribed during the outage`);
  await eventually('health to recover', () => health.notReadyReason() === null, 5_000);
}

t.test('redis broker: single node', redisSuite(), async (t) => {
  const server = await startRedis(t);
  await basics(t, (prefix) => nodeConfig(server, prefix));

  t.test('Redis killed and restarted: reject while down, resubscribe and flow after, log once per change', async (t) => {
    const own = await startRedis(t);
    const lines: { msg: string; role?: string }[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
    const health = new RedisHealth(log);
    const prefix = uniquePrefix('b');
    const a = await node(t, nodeConfig(own, prefix), health, log);
    const b = await node(t, nodeConfig(own, prefix), health, log);
    await outage(t, a, b, health, 'u:bob', () => own.kill(), async () => {
      // Down until every connection has noticed (and so retries on its own).
      await eventually('every connection to notice the outage', () => lines.filter((l) => l.msg === 'redis connection lost; reconnecting').length === 4);
      await own.restart();
    });
    const lost = lines.filter((l) => l.msg === 'redis connection lost; reconnecting').length;
    const restored = lines.filter((l) => l.msg === 'redis connection restored').length;
    t.equal(lost, 4, 'one "lost" line per connection (2 publishers, 2 subscribers), not one per retry');
    t.equal(restored, 4, 'one "restored" line per connection');
  });

  t.test('starts while Redis is unreachable and connects when it appears', async (t) => {
    const own = await startRedis(t);
    await own.kill();
    const health = new RedisHealth(quietLog);
    const broker = new RedisBroker({ redis: nodeConfig(own, uniquePrefix('b')), log: quietLog, health });
    t.teardown(() => broker.close());
    await broker.subscribe('early');
    await t.rejects(broker.publish({ topic: 'early', payload: bytes('x'), origin: 'n' }), { code: 'UNAVAILABLE' });
    t.match(health.notReadyReason(), /redis publisher/);
    await own.restart();
    await waitReady(broker.publisher);
    await eventually('health', () => health.notReadyReason() === null);
    const got: string[] = [];
    broker.onMessage((m) => got.push(text(m)));
    await eventually('the early subscription to work', async () => {
      await broker.publish({ topic: 'early', payload: bytes('hello'), origin: 'other' });
      return got.includes('hello');
    });
    t.ok(got.includes('hello'), 'subscribed once Redis appeared');
  });

  t.test('close is idempotent; calls after close reject', async (t) => {
    const broker = new RedisBroker({ redis: nodeConfig(server, uniquePrefix('b')), log: quietLog });
    await broker.close();
    await broker.close();
    await t.rejects(broker.publish({ topic: 't', payload: bytes('x'), origin: 'n' }), /closed/);
    await t.rejects(broker.subscribe('t'), /closed/);
  });
});

t.test('redis broker: 3-master cluster, sharded pub/sub', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  await basics(t, (prefix) => clusterConfig(cluster, prefix));

  t.test('topics spread over every shard all deliver', async (t) => {
    const prefix = uniquePrefix('b');
    const a = await node(t, clusterConfig(cluster, prefix));
    const b = await node(t, clusterConfig(cluster, prefix));
    const topics = Array.from({ length: 30 }, (_, i) => `u:user-${i}`);
    await Promise.all(topics.map((topic) => b.broker.subscribe(topic)));
    await Promise.all(topics.map((topic) => a.broker.publish({ topic, payload: bytes('hi'), origin: 'a' })));
    const delivered = await Promise.all(topics.map((topic) => b.next(topic, 'hi')));
    t.same(delivered.map((m) => m.topic), topics, '30 topics (about 10 per master) delivered');
  });

  t.test('the master of a topic killed and restarted: reject while down, flow again after', async (t) => {
    const health = new RedisHealth(quietLog);
    const prefix = uniquePrefix('b');
    const a = await node(t, clusterConfig(cluster, prefix), health);
    const b = await node(t, clusterConfig(cluster, prefix), health);
    const topic = 'u:carol';
    // The master that owns the topic's slot.
    const owner = a.broker.publisher.status === 'ready' ? (a.broker.publisher as import('ioredis').Cluster).slots[(await import('../../src/engine/redis/slot.js')).keySlot(prefix + topic)]![0]! : '';
    const victim = cluster.nodes.find((n) => n.address === owner);
    if (victim === undefined) throw new Error(`no test server for ${owner}`);
    await outage(t, a, b, health, topic, () => victim.kill(), () => victim.restart());
  });
});
