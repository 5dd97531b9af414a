import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/** Group rules over real sockets: Publish claim, MaxMembers, Presence none, DirectMessages shared-group. */

const RULES = {
  Groups: {
    Rules: [
      { Match: 'live:*', Join: 'open', Publish: 'claim', Presence: 'none' },
      { Match: 'lobby:*', Join: 'open', MaxMembers: 3 },
      { Match: 'quiet', Join: 'open', Publish: 'none' },
    ],
    Open: ['room:*'],
  },
  Presence: { GroupEvents: true },
};

async function user(url: string, sub: string, claims: Record<string, unknown> = {}): Promise<TestClient> {
  return TestClient.connect(url, { token: await token({ sub, ...claims }) });
}

t.test('live room: everyone joins and reads, only the host (publish claim) publishes', async (t) => {
  const { url } = await startGateway(t, RULES);
  const host = await user(url, 'host', { publish: ['live:*'] });
  const viewer = await user(url, 'viewer');
  t.equal((await viewer.request({ type: 'join', data: { group: 'live:1' } })).type, 'ack', 'anyone may join an open live room');
  const sent = await host.request({ type: 'group', data: { group: 'live:1', content: { text: 'welcome' } } });
  t.equal(sent.type, 'ack', 'the host publishes without having joined');
  t.equal(sent.data.status, 'accepted');
  const got = await viewer.next((f) => f.type === 'group');
  t.equal(got.data.mid, sent.data.mid);
  t.same(got.data.content, { text: 'welcome' });
  const refused = await viewer.request({ type: 'group', data: { group: 'live:1', content: 'me too' } });
  t.equal(refused.type, 'error');
  t.equal(refused.data.code, 'FORBIDDEN', 'an audience member is refused');
  t.match(refused.data.message, /may not publish to live:1/);
  const other = await host.request({ type: 'group', data: { group: 'room:1', content: 'x' } });
  t.equal(other.data.code, 'FORBIDDEN', 'the publish claim does not reach a members-only group the host has not joined');
  await viewer.request({ type: 'ping' });
  t.equal(viewer.ofType('group').length, 0, 'the refused message was not delivered');
});

t.test('Presence: none hides group presence and join/leave events', async (t) => {
  const { url } = await startGateway(t, RULES);
  const a = await user(url, 'a');
  const b = await user(url, 'b');
  await a.request({ type: 'join', data: { group: 'live:2' } });
  await b.request({ type: 'join', data: { group: 'live:2' } });
  const q = await a.request({ type: 'presence', data: { group: 'live:2' } });
  t.equal(q.type, 'error');
  t.equal(q.data.code, 'FORBIDDEN');
  await a.request({ type: 'join', data: { group: 'room:2' } });
  await b.request({ type: 'join', data: { group: 'room:2' } });
  const event = await a.next((f) => f.type === 'member');
  t.equal(event.data.group, 'room:2', 'the only member event is from the visible group');
  t.equal((await a.request({ type: 'presence', data: { group: 'room:2' } })).type, 'presence', 'visible groups answer');
  t.equal(a.ofType('member').filter((f) => f.data.group === 'live:2').length, 0, 'no member events from the hidden group');
});

t.test('MaxMembers: N users join, the next one gets GROUP_FULL; a member\'s second connection still joins', async (t) => {
  const { url } = await startGateway(t, RULES);
  const members = await Promise.all(['p1', 'p2', 'p3'].map((u) => user(url, u)));
  for (const m of members) t.equal((await m.request({ type: 'join', data: { group: 'lobby:7' } })).type, 'ack');
  const late = await user(url, 'p4');
  const full = await late.request({ type: 'join', data: { group: 'lobby:7' } });
  t.equal(full.type, 'error');
  t.equal(full.data.code, 'GROUP_FULL');
  t.equal(full.data.maxMembers, 3);
  const second = await user(url, 'p1');
  t.equal((await second.request({ type: 'join', data: { group: 'lobby:7' } })).type, 'ack', 'p1 is already counted');
  t.equal((await late.request({ type: 'join', data: { group: 'lobby:8' } })).type, 'ack', 'another lobby has room');
  await members[2]!.request({ type: 'leave', data: { group: 'lobby:7' } });
  t.equal((await late.request({ type: 'join', data: { group: 'lobby:7' } })).type, 'ack', 'a seat freed by a leave is taken');
  const sent = await late.request({ type: 'group', data: { group: 'lobby:7', content: 'gg' } });
  t.equal(sent.type, 'ack');
  t.equal((await members[0]!.next((f: Frame) => f.type === 'group')).data.content, 'gg');
});

t.test('concurrent joins past MaxMembers: exactly N admitted', async (t) => {
  const { url } = await startGateway(t, RULES);
  const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => user(url, `c${i}`)));
  const replies = await Promise.all(clients.map((c) => c.request({ type: 'join', data: { group: 'lobby:race' } })));
  t.equal(replies.filter((r) => r.type === 'ack').length, 3);
  t.equal(replies.filter((r) => r.type === 'error' && r.data.code === 'GROUP_FULL').length, 5);
});

t.test('Publish: none refuses every client; Groups.Open still works; no rule and no claim is FORBIDDEN', async (t) => {
  const { url } = await startGateway(t, RULES);
  const a = await user(url, 'a', { publish: ['*'] });
  await a.request({ type: 'join', data: { group: 'quiet' } });
  t.equal((await a.request({ type: 'group', data: { group: 'quiet', content: 1 } })).data.code, 'FORBIDDEN');
  t.equal((await a.request({ type: 'join', data: { group: 'room:9' } })).type, 'ack', 'Groups.Open');
  t.equal((await a.request({ type: 'join', data: { group: 'secret' } })).data.code, 'FORBIDDEN', 'unmatched, unclaimed');
  const b = await user(url, 'b', { groups: ['secret'] });
  t.equal((await b.request({ type: 'join', data: { group: 'secret' } })).type, 'ack', 'the groups claim');
});

t.test('DirectMessages: shared-group allows group mates and contacts, refuses strangers', async (t) => {
  const { url } = await startGateway(t, { ...RULES, DirectMessages: 'shared-group' });
  const alice = await user(url, 'alice', { contacts: ['dave'] });
  const bob = await user(url, 'bob');
  const carol = await user(url, 'carol');
  await alice.request({ type: 'join', data: { group: 'room:a' } });
  await bob.request({ type: 'join', data: { group: 'room:a' } });
  const toBob = await alice.request({ type: 'message', data: { to: 'bob', content: 'hi' } });
  t.equal(toBob.type, 'ack', 'bob shares room:a');
  t.equal((await bob.next((f) => f.type === 'message')).data.content, 'hi');
  const toCarol = await alice.request({ type: 'message', data: { to: 'carol', content: 'hi' } });
  t.equal(toCarol.type, 'error');
  t.equal(toCarol.data.code, 'FORBIDDEN');
  t.equal((await alice.request({ type: 'message', data: { to: 'dave', content: 'hi' } })).type, 'ack', 'dave is a contact, even offline');
  t.equal((await carol.request({ type: 'message', data: { to: 'alice', content: 'hi' } })).data.code, 'FORBIDDEN', 'and the other way round');
  await bob.request({ type: 'leave', data: { group: 'room:a' } });
  t.equal((await alice.request({ type: 'message', data: { to: 'bob', content: 'again' } })).data.code, 'FORBIDDEN', 'no longer after bob left');
  await carol.request({ type: 'ping' });
  t.equal(carol.ofType('message').length, 0, 'nothing refused was delivered');
});

t.test('DirectMessages: none refuses every direct message', async (t) => {
  const { url } = await startGateway(t, { DirectMessages: 'none' });
  const a = await user(url, 'a');
  t.equal((await a.request({ type: 'message', data: { to: 'b', content: 1 } })).data.code, 'FORBIDDEN');
});
