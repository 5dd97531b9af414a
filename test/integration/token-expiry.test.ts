import { SignJWT } from 'jose';
import t from 'tap';
import WebSocket from 'ws';
import { startGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { TEST_SECRET, token } from '../helpers/tokens.js';

const inSeconds = (s: number): number => Math.floor(Date.now() / 1000) + s;

/** A token without `exp` (the helper always sets one). */
function foreverToken(sub: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().sign(new TextEncoder().encode(TEST_SECRET));
}

t.test('past exp a connection is closed with 4011; a refreshed one, one without exp, and ExpireConnections:false stay', async (t) => {
  const { url, httpUrl } = await startGateway(t, { Auth: { Secret: TEST_SECRET, ClockTolerance: '0s' } });
  const lenient = await startGateway(t, { Auth: { Secret: TEST_SECRET, ClockTolerance: '0s', ExpireConnections: false } });
  // `expiring` outlives the others' deadline by a second: when it is closed, theirs has long passed.
  const refreshed = await TestClient.connect(url, { token: await token({ sub: 'alice', exp: inSeconds(2) }) });
  const kept = await TestClient.connect(lenient.url, { token: await token({ sub: 'carol', exp: inSeconds(2) }) });
  const forever = await TestClient.connect(url, { token: await foreverToken('dave') });
  const expiring = await TestClient.connect(url, { token: await token({ sub: 'bob', exp: inSeconds(3) }) });

  const fresh = inSeconds(3600);
  const ack = await refreshed.request({ type: 'refresh', data: { token: await token({ sub: 'alice', exp: fresh }) } });
  t.match(ack, { type: 'ack', data: { status: 'ok', exp: fresh } }, 'refresh answered by ack with the new exp');

  const closed = await expiring.closed;
  t.strictSame(closed, { code: 4011, reason: 'token expired: reconnect with a fresh token' }, 'closed with 4011 once exp passed');
  for (const [name, c] of [['refreshed', refreshed], ['no exp', forever], ['ExpireConnections false', kept]] as const) {
    t.equal((await c.request({ type: 'ping' })).type, 'pong', `${name}: still open`);
    t.equal(c.ws.readyState, WebSocket.OPEN);
  }
  const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
  t.match(metrics, /^switchboard_connections_expired_total 1$/m);
  t.match(metrics, /^switchboard_token_refreshes_total 1$/m);
  await Promise.all([refreshed.close(), kept.close(), forever.close()]);
});

t.test('refresh: another sub is FORBIDDEN, an invalid token UNAUTHORIZED, and nothing changes; new groups apply', async (t) => {
  const { url } = await startGateway(t);
  const c = await TestClient.connect(url, { token: await token({ sub: 'erin', groups: [] }) });
  t.match(await c.request({ type: 'join', data: { group: 'vip' } }), { type: 'error', data: { code: 'FORBIDDEN' } }, 'not allowed before');

  const other = await c.request({ type: 'refresh', data: { token: await token({ sub: 'mallory', groups: ['vip'] }) } });
  t.match(other, { type: 'error', data: { code: 'FORBIDDEN', message: /another user/ } });
  const invalid = await c.request({ type: 'refresh', data: { token: 'not.a.jwt' } });
  t.match(invalid, { type: 'error', data: { code: 'UNAUTHORIZED' } });
  const expired = await c.request({ type: 'refresh', data: { token: await token({ sub: 'erin', groups: ['vip'], exp: inSeconds(-3600) }) } });
  t.match(expired, { type: 'error', data: { code: 'UNAUTHORIZED', message: 'token expired' } });
  t.match(await c.request({ type: 'join', data: { group: 'vip' } }), { type: 'error', data: { code: 'FORBIDDEN' } }, 'failed refreshes changed nothing');

  t.match(await c.request({ type: 'refresh', data: { token: await token({ sub: 'erin', groups: ['vip'] }) } }), { type: 'ack', data: { status: 'ok' } });
  t.match(await c.request({ type: 'join', data: { group: 'vip' } }), { type: 'ack', data: { status: 'ok', group: 'vip' } }, 'the new token\'s groups apply');
  await c.close();
});
