import t from 'tap';
import { startGateway, type StartedGateway } from '../helpers/gateway.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { API_KEY, call } from '../helpers/api.js';

/** The HTTP API under room rules: the content filter (Filter.Apply: api) and `important` group publishes. */

async function member(g: StartedGateway, user: string, group: string): Promise<TestClient> {
  const c = await TestClient.connect(g.url, { token: await token({ sub: user }) });
  await c.request({ type: 'join', data: { group } });
  return c;
}

t.test('Filter.Apply api: push, publish and broadcast answer 422 CONTENT_REJECTED and send nothing', async (t) => {
  const g = await startGateway(t, {
    Http: { ApiKeys: [API_KEY] },
    Groups: { Open: ['room:*'] },
    Filter: { Enable: true, Words: ['badword'], Action: 'reject', Apply: ['api'] },
  });
  const bob = await member(g, 'bob', 'room:1');
  const routes: [string, string, unknown][] = [
    ['push', '/api/v1/push', { to: 'bob', content: { text: 'a BadWord here' } }],
    ['publish', '/api/v1/groups/room%3A1/publish', { content: ['fine', { deep: 'ｂａｄｗｏｒｄ' }] }],
    ['broadcast', '/api/v1/broadcast', { content: 'badword' }],
  ];
  for (const [name, path, body] of routes) {
    const r = await call(g.httpUrl, 'POST', path, { body });
    t.equal(r.status, 422, `${name}: 422`);
    t.equal(r.body.error.code, 'CONTENT_REJECTED', `${name}: the code`);
  }
  // A clean push goes through, and it is the first thing bob receives (seq 1: no rejected push took a seq).
  const clean = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'bob', content: 'all good' } });
  t.equal(clean.status, 200);
  const got = await bob.next((f: Frame) => f.type === 'message');
  t.equal(got.data.content, 'all good');
  t.equal(got.data.seq, 1, 'the rejected push took no inbox seq');
  await bob.request({ type: 'ping' });
  t.equal(bob.ofType('group').length + bob.ofType('broadcast').length, 0, 'no rejected publish or broadcast delivered');
  // Client frames are not filtered: Apply names only the API.
  t.equal((await bob.request({ type: 'group', data: { group: 'room:1', content: 'badword' } })).type, 'ack');
});

t.test('POST /groups/{group}/publish with important: true is kept in a group without History and recovered on rejoin', async (t) => {
  const g = await startGateway(t, {
    Http: { ApiKeys: [API_KEY] },
    Groups: { Open: ['plain:*'], ImportantHistory: { Size: 10, TTL: '1h' } },
  });
  const watcher = await member(g, 'watcher', 'plain:1');
  const plain = await call(g.httpUrl, 'POST', '/api/v1/groups/plain%3A1/publish', { body: { content: 'chit-chat' } });
  t.equal(plain.status, 200);
  t.notOk('offset' in plain.body, 'a plain publish is not kept');
  const kept = await call(g.httpUrl, 'POST', '/api/v1/groups/plain%3A1/publish', { body: { content: 'final score 3:1', important: true } });
  t.equal(kept.status, 200);
  t.equal(kept.body.offset, 1, 'the answer carries the offset');
  t.type(kept.body.epoch, 'string');
  const frame = await watcher.next((f: Frame) => f.type === 'group' && f.data.mid === kept.body.mid);
  t.equal(frame.data.important, true, 'the frame says important');
  t.equal(frame.data.from, 'system');
  const late = await TestClient.connect(g.url, { token: await token({ sub: 'late' }) });
  const rejoin = await late.request({ type: 'join', data: { group: 'plain:1', since: { offset: 0, epoch: kept.body.epoch } } });
  t.equal(rejoin.data.recovered, true, 'recovered on rejoin');
  const recovered = await late.next((f: Frame) => f.type === 'group');
  t.same([recovered.data.content, recovered.data.recovered], ['final score 3:1', true]);
  const bad = await call(g.httpUrl, 'POST', '/api/v1/groups/plain%3A1/publish', { body: { content: 'x', important: 'yes' } });
  t.equal(bad.status, 400);
  t.match(bad.body.error.message, /body\.important/);
});
