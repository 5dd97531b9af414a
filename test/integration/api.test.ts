import t from 'tap';
import { startGateway, type StartedGateway } from '../helpers/gateway.js';
import { TestClient, expectRefused } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { API_KEY, call, rawRequest } from '../helpers/api.js';

/** The HTTP API over real HTTP, with real WebSocket clients as recipients. */

const SETTINGS = {
  Http: { ApiKeys: [API_KEY, 'second-key-for-rotation-0001'], MaxBodyBytes: '64KiB' },
  Presence: { GroupEvents: true, OfflineGrace: '0ms' },
  Groups: { Open: ['live:*', 'room:*', 'stats-room'] },
  Limits: { MaxConnPerIp: 5000, UpgradesPerSecondPerIp: 100000, RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } },
};

async function client(g: StartedGateway, user: string, format: 'json' | 'msgpack' = 'json'): Promise<TestClient> {
  const c = await TestClient.connect(g.url, { token: await token({ sub: user }), format });
  // Open-time work (presence registration) is done once a request round-trips.
  await c.request({ type: 'ping' });
  return c;
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every route with a valid request, for the checks every route must pass. */
const ROUTES: { method: string; path: string; body?: unknown }[] = [
  { method: 'POST', path: '/api/v1/push', body: { to: 'nobody', content: 'x' } },
  { method: 'POST', path: '/api/v1/groups/live%3A7/publish', body: { content: 'x' } },
  { method: 'POST', path: '/api/v1/broadcast', body: { content: 'x' } },
  { method: 'GET', path: '/api/v1/presence?users=a,b' },
  { method: 'GET', path: '/api/v1/groups/live%3A7/presence' },
  { method: 'POST', path: '/api/v1/groups/live%3A7/members', body: { users: ['nobody'] } },
  { method: 'DELETE', path: '/api/v1/groups/live%3A7/members/nobody' },
  { method: 'POST', path: '/api/v1/users/nobody/disconnect', body: {} },
  { method: 'GET', path: '/api/v1/stats' },
  { method: 'GET', path: '/api/v1/openapi.json' },
];

t.test('HTTP API, single node', async (t) => {
  const g = await startGateway(t, SETTINGS);

  t.test('every route: success, no key, wrong key, X-API-Key, wrong method', async (t) => {
    for (const r of ROUTES) {
      const name = `${r.method} ${r.path}`;
      const ok = await call(g.httpUrl, r.method, r.path, { body: r.body });
      t.equal(ok.status, 200, `${name}: 200`);
      t.equal(ok.headers.get('content-type'), 'application/json', `${name}: JSON answer`);
      const none = await call(g.httpUrl, r.method, r.path, { body: r.body, key: null });
      t.equal(none.status, 401, `${name}: no key is 401`);
      t.equal(none.body.error.code, 'UNAUTHORIZED');
      t.match(none.body.error.message, /missing API key/);
      const wrong = await call(g.httpUrl, r.method, r.path, { body: r.body, key: 'wrong-key-wrong-key-wrong' });
      t.equal(wrong.status, 401, `${name}: wrong key is 401`);
      t.equal(wrong.body.error.message, 'invalid API key');
      const viaHeader = await call(g.httpUrl, r.method, r.path, { body: r.body, key: null, headers: { 'x-api-key': 'second-key-for-rotation-0001' } });
      t.equal(viaHeader.status, 200, `${name}: X-API-Key with the second key works`);
      const other = r.method === 'GET' ? 'PUT' : 'GET';
      const wrongMethod = await call(g.httpUrl, other, r.path);
      t.equal(wrongMethod.status, 405, `${name}: ${other} is 405`);
      t.equal(wrongMethod.headers.get('allow'), r.path.endsWith('/members') ? 'POST' : r.method, `${name}: Allow names the method`);
      t.equal(wrongMethod.body.error.code, 'METHOD_NOT_ALLOWED');
    }
  });

  t.test('unknown routes are 404 with the JSON error body', async (t) => {
    for (const path of ['/api/v1', '/api/v1/', '/api/v1/nope', '/api/v1/groups/x', '/api/v1/groups/x/publish/more', '/api/v2/push']) {
      const r = await call(g.httpUrl, 'POST', path, { body: {} });
      t.equal(r.status, 404, path);
      t.equal(r.body.error.code, 'NOT_FOUND', path);
    }
  });

  t.test('bad bodies are 400 naming the field', async (t) => {
    const cases: [string, string, string | undefined, unknown, RegExp][] = [
      ['POST', '/api/v1/push', '{"to": "bob", ', undefined, /^body: invalid JSON/],
      ['POST', '/api/v1/push', '[1]', undefined, /^body: expected an object/],
      ['POST', '/api/v1/push', undefined, { content: 1 }, /^body\.to: expected a user id or an array/],
      ['POST', '/api/v1/push', undefined, { to: 'bob' }, /^body\.content: required/],
      ['POST', '/api/v1/push', undefined, { to: ['bob', 'b o b'], content: 1 }, /^body\.to\[1\]: expected a user id/],
      ['POST', '/api/v1/push', undefined, { to: ['bob', 'bob'], content: 1 }, /^body\.to\[1\]: duplicate/],
      ['POST', '/api/v1/push', undefined, { to: [], content: 1 }, /^body\.to: expected/],
      ['POST', '/api/v1/push', undefined, { to: Array.from({ length: 1001 }, (_, i) => `u${i}`), content: 1 }, /^body\.to: expected .*1-1000/],
      ['POST', '/api/v1/push', undefined, { to: 'bob', content: 1, from: 'not valid' }, /^body\.from: expected a user id/],
      ['POST', '/api/v1/push', '{"to":"bob","content":{"__proto__":{"x":1}}}', undefined, /content: key '__proto__' is not allowed/],
      ['POST', '/api/v1/groups/a%20b/publish', undefined, { content: 1 }, /^path\.group: expected a group name/],
      ['POST', '/api/v1/groups/%E0%A4%A/publish', undefined, { content: 1 }, /^path\.group: invalid percent-encoding/],
      ['POST', '/api/v1/groups/g/publish', undefined, {}, /^body\.content: required/],
      ['POST', '/api/v1/broadcast', undefined, { content: 1, from: 5 }, /^body\.from/],
      ['GET', '/api/v1/presence', undefined, undefined, /^query\.users: required/],
      ['GET', '/api/v1/presence?users=a,,b', undefined, undefined, /^query\.users\[1\]/],
      ['GET', '/api/v1/groups/a%20b/presence', undefined, undefined, /^path\.group/],
      ['POST', '/api/v1/groups/g/members', undefined, { users: 'bob' }, /^body\.users: expected an array of 1-1000 user ids/],
      ['DELETE', '/api/v1/groups/g/members/b%20b', undefined, undefined, /^path\.user/],
      ['POST', '/api/v1/users/b%20b/disconnect', undefined, {}, /^path\.user/],
      ['POST', '/api/v1/users/bob/disconnect', undefined, { reason: 'x'.repeat(124) }, /^body\.reason: expected a string of at most 123 bytes/],
    ];
    for (const [method, path, raw, body, message] of cases) {
      const r = await call(g.httpUrl, method, path, raw === undefined ? { body } : { raw });
      t.equal(r.status, 400, `${method} ${path} ${raw ?? String(JSON.stringify(body)).slice(0, 60)}`);
      t.equal(r.body.error.code, 'BAD_REQUEST');
      t.match(r.body.error.message, message);
    }
    const deep = await call(g.httpUrl, 'POST', '/api/v1/push', { raw: `{"to":"bob","content":${'['.repeat(40)}${']'.repeat(40)}}` });
    t.equal(deep.status, 400, 'content nested deeper than a client frame may be');
    t.match(deep.body.error.message, /nesting deeper than/);
    const type = await call(g.httpUrl, 'POST', '/api/v1/push', { raw: 'to=bob', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    t.equal(type.status, 415);
    t.equal(type.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const badPack = await call(g.httpUrl, 'POST', '/api/v1/push', { raw: Uint8Array.from([0x82, 0xa2, 0x74, 0x6f, 0xc4, 0x01, 0x00]), headers: { 'content-type': 'application/msgpack' } });
    t.equal(badPack.status, 400, 'MessagePack goes through the byte scanner');
    t.match(badPack.body.error.message, /^body: invalid MessagePack: bin value/);
    const key = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'bob', content: 1 }, headers: { 'idempotency-key': 'has space' } });
    t.equal(key.status, 400);
    t.match(key.body.error.message, /^Idempotency-Key header/);
  });

  t.test('content over Limits.MaxMessageBytes is 413, like a client frame', async (t) => {
    const small = await startGateway(t, { ...SETTINGS, Limits: { ...SETTINGS.Limits, MaxMessageBytes: 1024 } });
    const r = await call(small.httpUrl, 'POST', '/api/v1/push', { body: { to: 'bob', content: 'x'.repeat(2000) } });
    t.equal(r.status, 413);
    t.match(r.body.error.message, /^body\.content: 2002 bytes as JSON, more than Limits\.MaxMessageBytes \(1024\)/);
  });

  t.test('oversize bodies are refused with 413 before the whole body is sent', async (t) => {
    for (const r of ROUTES.filter((x) => x.method === 'POST')) {
      const head = `POST ${r.path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`;
      const chunks = Array.from({ length: 100 }, () => Buffer.alloc(16 * 1024, 0x20));
      const answer = await rawRequest(g.gateway.port, head, chunks, 20);
      t.match(answer.statusLine, /^HTTP\/1\.1 413 /, `${r.path}: declared length over the limit`);
      t.ok(answer.written < answer.total, `${r.path}: answered after ${answer.written} of ${answer.total} bytes`);
      t.match(answer.text, /"code":"TOO_LARGE".*declared/);
    }
    // Chunked: no declared length, so the limit is applied to what streams in.
    const head = `POST /api/v1/push HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const piece = 'x'.repeat(2000);
    const chunk = Buffer.from(`${piece.length.toString(16)}\r\n${piece}\r\n`);
    const answer = await rawRequest(g.gateway.port, head, [...Array.from({ length: 200 }, () => chunk), Buffer.from('0\r\n\r\n')], 5);
    t.match(answer.statusLine, /^HTTP\/1\.1 413 /, 'streamed body over the limit');
    t.ok(answer.written < answer.total / 2, `answered after ${answer.written} of ${answer.total} bytes`);
    t.match(answer.text, /"code":"TOO_LARGE".*received/);
  });

  t.test('push to an online user: the seed message shape from "system"', async (t) => {
    const bob = await client(g, 'bob');
    const r = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'bob', content: { order: 42 } } });
    t.equal(r.status, 200);
    t.equal(r.body.results.length, 1);
    const [result] = r.body.results;
    t.match(result, { to: 'bob', mid: String, seq: Number, status: 'delivered' });
    const m = await bob.next((f) => f.type === 'message');
    t.same(Object.keys(m.data).sort(), ['content', 'epoch', 'from', 'mid', 'seq', 'timestamp', 'to']);
    t.match(m.data, { mid: result.mid, from: 'system', to: 'bob', content: { order: 42 }, seq: result.seq });
    const named = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: ['bob'], content: 'x', from: 'shop:1' } });
    t.equal((await bob.next((f) => f.type === 'message')).data.from, 'shop:1', 'from names another sender');
    t.equal(named.body.results[0].seq, result.seq + 1, 'seq continues in the inbox');
    await bob.close();
  });

  t.test('push to an offline user: stored, replayed on connect, no receipt needed', async (t) => {
    const r = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: ['carol'], content: 'while away' } });
    t.equal(r.body.results[0].status, 'stored');
    const carol = await TestClient.connect(g.url, { token: await token({ sub: 'carol' }) });
    const m = await carol.next((f) => f.type === 'message');
    t.match(m.data, { mid: r.body.results[0].mid, from: 'system', content: 'while away', offline: true, seq: r.body.results[0].seq });
    const ack = await carol.request({ type: 'ack', data: { upTo: m.data.seq } });
    t.equal(ack.data.removed, 1, 'acknowledged like any message; the system sender has no socket to get a receipt');
    await carol.close();
    const again = await TestClient.connect(g.url, { token: await token({ sub: 'carol' }) });
    await again.request({ type: 'ping' });
    t.equal(again.ofType('message').length, 0, 'not replayed after the ack');
    await again.close();
  });

  t.test('a receipt goes to a user-named sender', async (t) => {
    const shop = await client(g, 'shop');
    const r = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'dan', content: 1, from: 'shop' } });
    const dan = await TestClient.connect(g.url, { token: await token({ sub: 'dan' }) });
    const m = await dan.next((f) => f.type === 'message');
    await dan.request({ type: 'ack', data: { upTo: m.data.seq } });
    const receipt = await shop.next((f) => f.type === 'receipt');
    t.match(receipt.data, { mid: r.body.results[0].mid, to: 'dan', status: 'delivered' });
    await Promise.all([shop.close(), dan.close()]);
  });

  t.test('push to 1000 online users in one call', async (t) => {
    const users = Array.from({ length: 1000 }, (_, i) => `fan-${i}`);
    const clients: TestClient[] = [];
    for (let i = 0; i < users.length; i += 100) {
      clients.push(...await Promise.all(users.slice(i, i + 100).map(async (u, j) =>
        TestClient.connect(g.url, { token: await token({ sub: u }), format: (i + j) % 2 === 0 ? 'msgpack' : 'json' }))));
    }
    await Promise.all(clients.map((c) => c.request({ type: 'ping' })));
    const r = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: users, content: { sale: true } } });
    t.equal(r.status, 200);
    t.same(r.body.results.map((x: { to: string }) => x.to), users, 'results in request order');
    t.ok(r.body.results.every((x: { status: string; seq: number }) => x.status === 'delivered' && x.seq === 1), 'every one delivered, seq 1');
    const got = await Promise.all(clients.map((c) => c.next((f) => f.type === 'message', 10_000)));
    t.ok(got.every((m, i) => m.data.to === users[i] && m.data.mid === r.body.results[i].mid && m.data.from === 'system'), 'each user got its own message');
    await Promise.all(clients.map((c) => c.close()));
  });

  t.test('Idempotency-Key: a retry returns the first answer and delivers once', async (t) => {
    const erin = await client(g, 'erin');
    const opts = { body: { to: 'erin', content: 'once' }, headers: { 'idempotency-key': 'order-7-paid' } };
    const first = await call(g.httpUrl, 'POST', '/api/v1/push', opts);
    const retry = await call(g.httpUrl, 'POST', '/api/v1/push', opts);
    t.equal(retry.status, 200);
    t.same(retry.body, first.body, 'same answer, same mid and seq');
    t.equal(retry.headers.get('idempotent-replayed'), 'true');
    const other = await call(g.httpUrl, 'POST', '/api/v1/push', { ...opts, body: { to: 'erin', content: 'different' } });
    t.equal(other.status, 409);
    t.equal(other.body.error.code, 'CONFLICT');
    t.match(other.body.error.message, /different request/);
    const otherKey = await call(g.httpUrl, 'POST', '/api/v1/push', { ...opts, key: 'second-key-for-rotation-0001' });
    t.equal(otherKey.status, 200, 'keys are per API key: another API key runs its own request');
    t.not(otherKey.body.results[0].mid, first.body.results[0].mid);
    // Concurrent retries: exactly one runs, the others wait for nothing and get 409 or the answer.
    const burst = await Promise.all(Array.from({ length: 8 }, () => call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'erin', content: 'burst' }, headers: { 'idempotency-key': 'burst-1' } })));
    t.ok(burst.every((b) => b.status === 200 || (b.status === 409 && b.headers.get('retry-after') === '1')), 'each is the answer or 409 with Retry-After');
    await erin.request({ type: 'ping' });
    const messages = erin.ofType('message').map((m) => m.data.content);
    t.same(messages.filter((c) => c === 'once').length, 2, 'the retried push was delivered once per API key');
    t.same(messages.filter((c) => c === 'burst').length, 1, 'the concurrent burst was delivered once');
    const bad = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'erin' }, headers: { 'idempotency-key': 'bad-1' } });
    const badRetry = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'erin' }, headers: { 'idempotency-key': 'bad-1' } });
    t.same([bad.status, badRetry.status], [400, 400], 'a 4xx answer is kept too');
    await erin.close();
  });

  t.test('MessagePack in and out', async (t) => {
    const fay = await client(g, 'fay', 'msgpack');
    const r = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'fay', content: { n: 1, big: 2 ** 40 } }, msgpack: true });
    t.equal(r.status, 200);
    t.equal(r.headers.get('content-type'), 'application/msgpack');
    t.equal(r.body.results[0].status, 'delivered');
    const m = await fay.next((f) => f.type === 'message');
    t.same(m.data.content, { n: 1, big: 2 ** 40 });
    const err = await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'fay' }, msgpack: true });
    t.equal(err.status, 400);
    t.equal(err.body.error.code, 'BAD_REQUEST', 'errors in MessagePack too');
    const presence = await call(g.httpUrl, 'GET', '/api/v1/presence?users=fay', { msgpack: true });
    t.equal(presence.body.users.fay.status, 'online');
    await fay.close();
  });

  t.test('group publish and broadcast reach members with the usual frames', async (t) => {
    const gil = await client(g, 'gil');
    const hal = await client(g, 'hal');
    await gil.request({ type: 'join', data: { group: 'live:7' } });
    const r = await call(g.httpUrl, 'POST', '/api/v1/groups/live%3A7/publish', { body: { content: 'goal' } });
    t.equal(r.status, 200);
    const frame = await gil.next((f) => f.type === 'group');
    t.match(frame.data, { mid: r.body.mid, from: 'system', group: 'live:7', content: 'goal' });
    const b = await call(g.httpUrl, 'POST', '/api/v1/broadcast', { body: { content: 'maintenance', from: 'ops' } });
    for (const c of [gil, hal]) t.match((await c.next((f) => f.type === 'broadcast')).data, { mid: b.body.mid, from: 'ops', content: 'maintenance' });
    await hal.request({ type: 'ping' });
    t.equal(hal.ofType('group').length, 0, 'non-members get no group frame');
    const gp = await call(g.httpUrl, 'GET', '/api/v1/groups/live%3A7/presence');
    t.same(gp.body, { group: 'live:7', online: ['gil'], count: 1 });
    const p = await call(g.httpUrl, 'GET', '/api/v1/presence?users=gil,nobody-here');
    t.match(p.body.users.gil, { status: 'online', connections: 1 });
    t.same(p.body.users['nobody-here'], { status: 'offline', lastSeen: 0, connections: 0 });
    await Promise.all([gil.close(), hal.close()]);
  });

  t.test('server-side join and leave', async (t) => {
    const ida = await client(g, 'ida');
    const ida2 = await client(g, 'ida', 'msgpack');
    const jon = await client(g, 'jon');
    await jon.request({ type: 'join', data: { group: 'room:1' } });
    const add = await call(g.httpUrl, 'POST', '/api/v1/groups/room%3A1/members', { body: { users: ['ida', 'absent'] } });
    t.same(add.body, { group: 'room:1', users: ['ida', 'absent'] });
    const event = await jon.next((f) => f.type === 'member' && f.data.userId === 'ida');
    t.match(event.data, { group: 'room:1', event: 'join' }, 'members see the join event');
    const pub = await jon.request({ type: 'group', data: { group: 'room:1', content: 'welcome' } });
    for (const c of [ida, ida2]) t.equal((await c.next((f) => f.type === 'group')).data.mid, pub.data.mid, 'every connection of ida receives it without sending join');
    const sent = await ida.request({ type: 'group', data: { group: 'room:1', content: 'hi' } });
    t.equal(sent.data.status, 'accepted', 'and may publish as a member');
    const gp = await call(g.httpUrl, 'GET', '/api/v1/groups/room%3A1/presence');
    t.same(gp.body.online.sort(), ['ida', 'jon']);
    const del = await call(g.httpUrl, 'DELETE', '/api/v1/groups/room%3A1/members/ida');
    t.same(del.body, { group: 'room:1', users: ['ida'] });
    t.match((await jon.next((f) => f.type === 'member' && f.data.event === 'leave')).data, { userId: 'ida', group: 'room:1' });
    await jon.request({ type: 'group', data: { group: 'room:1', content: 'after' } });
    await Promise.all([ida.request({ type: 'ping' }), ida2.request({ type: 'ping' })]);
    t.notOk([...ida.ofType('group'), ...ida2.ofType('group')].some((f) => f.data.content === 'after'), 'removal stops them');
    await Promise.all([ida.close(), ida2.close(), jon.close()]);
  });

  t.test('disconnect closes every connection of the user with 4010', async (t) => {
    const a = await client(g, 'kim');
    const b = await client(g, 'kim', 'msgpack');
    const other = await client(g, 'lea');
    const r = await call(g.httpUrl, 'POST', '/api/v1/users/kim/disconnect', { body: { reason: 'banned' } });
    t.same(r.body, { closed: 2 });
    for (const c of [a, b]) t.same(await c.closed, { code: 4010, reason: 'banned' });
    await other.request({ type: 'ping' });
    t.pass('other users stay connected');
    const none = await call(g.httpUrl, 'POST', '/api/v1/users/kim/disconnect', { raw: '' });
    t.same(none.body, { closed: 0 }, 'an empty body is allowed');
    await other.close();
  });

  t.test('stats', async (t) => {
    // Connections closed by earlier tests leave the hub when their close is processed.
    await until('earlier connections to go', () => g.gateway.hub.size === 0);
    const c = await client(g, 'mo');
    await c.request({ type: 'join', data: { group: 'stats-room' } });
    await call(g.httpUrl, 'POST', '/api/v1/push', { body: { to: 'mo', content: 1 } });
    await c.next((f) => f.type === 'message');
    const r = await call(g.httpUrl, 'GET', '/api/v1/stats');
    t.match(r.body, {
      node: g.gateway.nodeId, uptimeSeconds: Number, connections: 1, users: 1, groups: 1,
      messagesInPerSecond: Number, messagesOutPerSecond: Number, memory: { rss: Number, heapUsed: Number },
    });
    t.ok(r.body.messagesInPerSecond > 0 && r.body.messagesOutPerSecond > 0, 'recent traffic shows in the rates');
    t.notOk('nodes' in r.body, 'no nodes list on a single node');
    await c.close();
  });

  t.test('the id "system" is reserved: no token may use it', async (t) => {
    const refused = await expectRefused(g.url, { token: await token({ sub: 'system' }) });
    t.equal(refused.status, 401);
    t.match(refused.body.error.message, /reserved/);
  });

  t.test('API calls are counted in metrics', async (t) => {
    const text = await (await fetch(`${g.httpUrl}/metrics`)).text();
    t.match(text, /switchboard_api_requests_total [1-9]/);
    t.match(text, /switchboard_api_requests_failed_total [1-9]/);
    t.match(text, /switchboard_api_idempotent_replays_total [1-9]/);
    t.match(text, /switchboard_api_messages_total [1-9]/);
  });
});

t.test('no API keys configured: every route is 401 "API disabled"', async (t) => {
  const g = await startGateway(t, { Http: { ApiKeys: [] } });
  for (const r of ROUTES) {
    const answer = await call(g.httpUrl, r.method, r.path, { body: r.body });
    t.equal(answer.status, 401, `${r.method} ${r.path}`);
    t.equal(answer.body.error.message, 'API disabled: set Http.ApiKeys');
  }
});

t.test('Http.Enable false removes the routes', async (t) => {
  const g = await startGateway(t, { Http: { Enable: false, ApiKeys: [API_KEY] } });
  t.equal(g.gateway.apiRouter, undefined);
  for (const r of ROUTES) {
    const answer = await call(g.httpUrl, r.method, r.path, { body: r.body });
    t.equal(answer.status, 404, `${r.method} ${r.path}`);
    t.equal(answer.body.error.code, 'NOT_FOUND');
  }
  t.equal((await fetch(`${g.httpUrl}/healthz`)).status, 200, 'the rest of the HTTP side is there');
});

