import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { embeddedEngines } from '../../src/engine/engines.js';
import { MemoryBroker } from '../../src/engine/memory/broker.js';
import { RecordingBroker } from '../helpers/recording-broker.js';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { encodeMsgpack } from '../../src/protocol/codec.js';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

t.test('the broker follows local interest: subscribed on the first subscriber, unsubscribed after the last', async (t) => {
  const broker = new RecordingBroker();
  const engines = embeddedEngines(broker, new MemoryInbox({ maxPerUser: 100, ttlMs: 60_000 }), new MemoryPresenceStore());
  const { url, gateway } = await startGateway(t, { Groups: { Open: ['g:*'] } }, engines);
  t.ok(broker.topics.has(`n:${gateway.nodeId}`), 'the node control topic is subscribed at start');

  // Two formats, two connections: one logical topic, subscribed once.
  const a1 = await TestClient.connect(url, { token: await token({ sub: 'alice' }), format: 'json' });
  const a2 = await TestClient.connect(url, { token: await token({ sub: 'alice' }), format: 'msgpack' });
  t.ok(broker.topics.has('all'), 'broadcast topic subscribed');
  // A broker that spans no nodes is never asked for user topics (see Hub): the
  // registry counts the user's connections instead.
  t.notOk(broker.topics.has('u:alice'), 'no broker subscription for a user topic on a single node');
  t.equal(gateway.hub.localSubscribers('u:alice'), 2);
  await a1.request({ type: 'join', data: { group: 'g:1' } });
  t.ok(broker.topics.has('g:g:1'), 'group topic subscribed on the first member');

  // Both connections still get what is sent to the user, in their own formats.
  const bob = await TestClient.connect(url, { token: await token({ sub: 'bob' }), format: 'json' });
  const sent = await bob.request({ type: 'message', data: { to: 'alice', content: 'hi' } });
  t.equal(sent.data.status, 'delivered');
  for (const a of [a1, a2]) t.equal((await a.next((f) => f.type === 'message')).data.content, 'hi');

  await a1.close();
  await until(() => gateway.hub.localSubscribers('u:alice') === 1, 'one subscriber left');
  t.notOk(broker.topics.has('g:g:1'), 'group topic unsubscribed when its last member closed');
  await a2.close();
  await until(() => gateway.hub.localSubscribers('u:alice') === 0, 'no subscriber left');
  const stored = await bob.request({ type: 'message', data: { to: 'alice', content: 'later' } });
  t.equal(stored.data.status, 'stored', 'nobody of alice left to deliver to');
  await bob.close();
  await until(() => !broker.topics.has('all'), 'broadcast topic unsubscribed with the last connection');
});

t.test('frames from other nodes fan out locally; own echoes and garbage are ignored', async (t) => {
  const broker = new MemoryBroker();
  const engines = embeddedEngines(broker, new MemoryInbox({ maxPerUser: 100, ttlMs: 60_000 }), new MemoryPresenceStore());
  const { url, gateway } = await startGateway(t, {}, engines);
  const b = await TestClient.connect(url, { token: await token({ sub: 'bob' }), format: 'json' });
  const frame = { type: 'broadcast', data: { mid: 'm-remote', from: 'ops', content: 'from node 2', timestamp: 1 } };
  broker.inject({ topic: 'all', payload: encodeMsgpack({ ...frame, data: { ...frame.data, mid: 'm-self' } }), origin: gateway.nodeId });
  broker.inject({ topic: 'all', payload: new Uint8Array([0xc1, 0x00]), origin: 'node-2' });
  broker.inject({ topic: 'all', payload: encodeMsgpack(frame), origin: 'node-2' });
  const got = await b.next((f) => f.type === 'broadcast');
  t.equal(got.data.mid, 'm-remote', 'the first broadcast to arrive is the remote one: own echo and garbage dropped');
  t.equal(got.data.content, 'from node 2');
  await b.close();
});
