import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

t.test('a group frame resent with the same id is delivered once and answered with the first answer', async (t) => {
  const { url } = await startGateway(t, { Groups: { Open: ['room:*'] } });
  const tok = await token({ sub: 'alice' });
  const alice = await TestClient.connect(url, { token: tok });
  const bob = await TestClient.connect(url, { token: await token({ sub: 'bob' }) });
  for (const c of [alice, bob]) await c.request({ type: 'join', data: { group: 'room:1' } });
  const first = await alice.request({ type: 'group', id: 'g-1', data: { group: 'room:1', content: 'hello' } });
  t.equal(first.data.status, 'accepted');
  // The connection dies before the answer is seen; the client resends on a new one.
  await alice.close();
  const again = await TestClient.connect(url, { token: tok });
  await again.request({ type: 'join', data: { group: 'room:1' } });
  const resent = await again.request({ type: 'group', id: 'g-1', data: { group: 'room:1', content: 'hello' } });
  t.equal(resent.data.mid, first.data.mid, 'the resend gets the first mid');
  t.equal(resent.data.duplicate, true, 'marked as a duplicate');
  const other = await again.request({ type: 'group', id: 'g-1', data: { group: 'room:1', content: 'something else' } });
  t.not(other.data.mid, first.data.mid, 'the same id with other content is another message');
  await bob.request({ type: 'ping' });
  t.same(bob.ofType('group').map((f) => f.data.content), ['hello', 'something else'], 'bob got each message once');
});

t.test('a broadcast resent with the same id is delivered once', async (t) => {
  const { url } = await startGateway(t);
  const ops = await TestClient.connect(url, { token: await token({ sub: 'ops', perms: ['broadcast'] }) });
  const listener = await TestClient.connect(url, { token: await token({ sub: 'l' }) });
  const a = await ops.request({ type: 'broadcast', id: 'b-1', data: { content: 'maintenance' } });
  const b = await ops.request({ type: 'broadcast', id: 'b-1', data: { content: 'maintenance' } });
  t.equal(b.data.mid, a.data.mid);
  await listener.request({ type: 'ping' });
  t.equal(listener.ofType('broadcast').length, 1, 'one delivery');
});

t.test('a direct message resent with the same id is stored and delivered once', async (t) => {
  const { url } = await startGateway(t);
  const alice = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  const bob = await TestClient.connect(url, { token: await token({ sub: 'bob' }) });
  const first = await alice.request({ type: 'message', id: 'd-1', data: { to: 'bob', content: 'once' } });
  const again = await alice.request({ type: 'message', id: 'd-1', data: { to: 'bob', content: 'once' } });
  t.equal(again.data.mid, first.data.mid, 'same mid');
  t.equal(again.data.seq, first.data.seq, 'same seq');
  t.equal(again.data.epoch, first.data.epoch, 'same epoch');
  t.equal(again.data.duplicate, true);
  const other = await alice.request({ type: 'message', id: 'd-1', data: { to: 'bob', content: 'another' } });
  t.equal(other.data.seq, first.data.seq + 1, 'the same id with other content is a new message');
  await bob.request({ type: 'ping' });
  t.same(bob.ofType('message').map((m) => m.data.content), ['once', 'another'], 'bob got each once');
});

t.test('an ack naming another epoch removes nothing', async (t) => {
  const { url } = await startGateway(t);
  const alice = await TestClient.connect(url, { token: await token({ sub: 'alice' }) });
  for (let i = 1; i <= 3; i++) await alice.request({ type: 'message', data: { to: 'carl', content: i } });
  const carl = await TestClient.connect(url, { token: await token({ sub: 'carl' }) });
  const replayed = [await carl.next((f) => f.type === 'message'), await carl.next((f) => f.type === 'message'), await carl.next((f) => f.type === 'message')];
  const epoch = replayed[0]!.data.epoch as string;
  t.match(epoch, /^[0-9a-z]{12}$/, 'messages carry the inbox epoch');
  const stale = await carl.request({ type: 'ack', data: { upTo: 3, epoch: 'zzzzzzzzzzzz' } });
  t.equal(stale.data.removed, 0, 'another epoch: nothing removed');
  const right = await carl.request({ type: 'ack', data: { upTo: 2, epoch } });
  t.equal(right.data.removed, 2);
  const plain = await carl.request({ type: 'ack', data: { upTo: 3 } });
  t.equal(plain.data.removed, 1, 'an ack without epoch applies to the current one');
});
