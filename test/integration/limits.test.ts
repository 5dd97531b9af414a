import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient, expectRefused } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/** Polls observable state until it holds, with a deadline. */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('MaxConn holds at the boundary: N accepted, N+1 refused with 503', async (t) => {
  const { url, gateway } = await startGateway(t, { MaxConn: 4 });
  const clients = await Promise.all([0, 1, 2, 3].map(async (i) => TestClient.connect(url, { token: await token({ sub: `u${i}` }) })));
  t.equal(gateway.hub.size, 4);
  const refused = await expectRefused(url, { token: await token({ sub: 'u9' }) });
  t.equal(refused.status, 503);
  t.equal(refused.body.error.code, 'SERVER_FULL');
  await clients[0]!.close();
  const again = await TestClient.connect(url, { token: await token({ sub: 'u9' }) });
  t.equal((await again.request({ type: 'ping' })).type, 'pong', 'a freed slot can be used again');
  await Promise.all([...clients.slice(1), again].map((c) => c.close()));
});

t.test('MaxConn holds for concurrent upgrades too', async (t) => {
  const { url, gateway } = await startGateway(t, { MaxConn: 5 });
  const attempts = await Promise.allSettled(
    Array.from({ length: 12 }, async (_, i) => TestClient.connect(url, { token: await token({ sub: `c${i}` }) })),
  );
  const accepted = attempts.filter((a) => a.status === 'fulfilled');
  t.equal(accepted.length, 5, 'exactly MaxConn accepted');
  t.equal(gateway.hub.size, 5);
  await Promise.all(accepted.map((a) => (a as PromiseFulfilledResult<TestClient>).value.close()));
});

t.test('MaxConnPerIp holds for concurrent upgrades: 200 at once from one address, exactly the cap accepted', async (t) => {
  const { url, gateway } = await startGateway(t, { Limits: { MaxConnPerIp: 10, UpgradesPerSecondPerIp: 100_000 } });
  // Tokens first, so the 200 upgrades really arrive together.
  const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => token({ sub: `ip${i}` })));
  const attempts = await Promise.allSettled(tokens.map((tok) => TestClient.connect(url, { token: tok })));
  const accepted = attempts.filter((a): a is PromiseFulfilledResult<TestClient> => a.status === 'fulfilled');
  const refused = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
  t.equal(accepted.length, 10, 'exactly MaxConnPerIp accepted');
  t.equal(gateway.hub.size, 10);
  t.ok(refused.every((r) => (r.reason as { status?: number }).status === 429 && /TOO_MANY_CONNECTIONS/.test(String((r.reason as { body?: string }).body))),
    'every other upgrade is refused with 429 TOO_MANY_CONNECTIONS');
  await Promise.all(accepted.map((a) => a.value.close()));
  // The slots come back when the connections close.
  await until(() => gateway.hub.size === 0);
  const again = await TestClient.connect(url, { token: tokens[0]! });
  t.equal((await again.request({ type: 'ping' })).type, 'pong', 'a closed connection frees its slot');
  await again.close();
});

t.test('per-user limit with reject: N accepted, N+1 refused with 429', async (t) => {
  const { url } = await startGateway(t, { Limits: { MaxConnPerUser: 3 } });
  const tok = await token({ sub: 'bob' });
  const conns = [];
  for (let i = 0; i < 3; i++) conns.push(await TestClient.connect(url, { token: tok }));
  const refused = await expectRefused(url, { token: tok });
  t.equal(refused.status, 429);
  t.equal(refused.body.error.code, 'TOO_MANY_CONNECTIONS');
  const other = await TestClient.connect(url, { token: await token({ sub: 'carol' }) });
  t.equal((await other.request({ type: 'ping' })).type, 'pong', 'other users are not affected');
  await Promise.all([...conns, other].map((c) => c.close()));
});

t.test('per-user limit with evict-oldest: the oldest is closed with 4008 and the new one accepted', async (t) => {
  const { url, gateway } = await startGateway(t, { Limits: { MaxConnPerUser: 2, PerUserPolicy: 'evict-oldest' } });
  const tok = await token({ sub: 'dave' });
  const first = await TestClient.connect(url, { token: tok });
  const second = await TestClient.connect(url, { token: tok });
  const third = await TestClient.connect(url, { token: tok });
  const closed = await first.closed;
  t.equal(closed.code, 4008, 'oldest evicted with 4008');
  t.equal(gateway.hub.userConnectionCount('dave'), 2);
  t.equal((await second.request({ type: 'ping' })).type, 'pong', 'second still works');
  t.equal((await third.request({ type: 'ping' })).type, 'pong', 'newest works');
  await Promise.all([second.close(), third.close()]);
});

t.test('rate limit: a burst over the bucket gets RATE_LIMITED with retryAfterMs, later frames pass', async (t) => {
  const { url } = await startGateway(t, { Limits: { RateLimit: { MessagesPerSecond: 10, Burst: 5 } } });
  const c = await TestClient.connect(url, { token: await token({ sub: 'r' }) });
  for (let i = 0; i < 8; i++) c.send({ type: 'ping', id: `p${i}` });
  const replies = [];
  for (let i = 0; i < 8; i++) replies.push(await c.next((f) => f.id === `p${i}`));
  const limited = replies.filter((f) => f.type === 'error');
  t.equal(replies.filter((f) => f.type === 'pong').length, 5, 'the burst passes');
  t.equal(limited.length, 3, 'frames over the bucket are refused');
  for (const f of limited) {
    t.equal(f.data.code, 'RATE_LIMITED');
    t.ok(f.data.retryAfterMs > 0 && f.data.retryAfterMs <= 1000, 'retryAfterMs says when to retry');
  }
  await new Promise((r) => setTimeout(r, limited[0]!.data.retryAfterMs + 50));
  t.equal((await c.request({ type: 'ping' })).type, 'pong', 'after waiting, frames pass again');
  t.equal(c.ws.readyState, c.ws.OPEN, 'a single burst does not close the connection');
  await c.close();
});

t.test('rate limit is per user across connections', async (t) => {
  const { url } = await startGateway(t, { Limits: { RateLimit: { MessagesPerSecond: 1, Burst: 4 } } });
  const tok = await token({ sub: 'multi' });
  const a = await TestClient.connect(url, { token: tok });
  const b = await TestClient.connect(url, { token: tok });
  for (let i = 0; i < 4; i++) t.equal((await (i % 2 ? a : b).request({ type: 'ping' })).type, 'pong');
  const over = await a.request({ type: 'ping' });
  t.equal(over.data.code, 'RATE_LIMITED', 'the user bucket is shared by its connections');
  await Promise.all([a.close(), b.close()]);
});

t.test('sustained rate abuse closes with 1008', async (t) => {
  const { url } = await startGateway(t, { Limits: { RateLimit: { MessagesPerSecond: 5, Burst: 5 } } });
  const c = await TestClient.connect(url, { token: await token({ sub: 'abuser' }) });
  for (let i = 0; i < 200; i++) c.send({ type: 'ping' });
  const closed = await c.closed;
  t.equal(closed.code, 1008);
});

t.test('per-IP connection cap and upgrade rate', async (t) => {
  const { url } = await startGateway(t, { Limits: { MaxConnPerIp: 2, UpgradesPerSecondPerIp: 1000 } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'ip1' }) });
  const b = await TestClient.connect(url, { token: await token({ sub: 'ip2' }) });
  const refused = await expectRefused(url, { token: await token({ sub: 'ip3' }) });
  t.equal(refused.status, 429);
  t.equal(refused.body.error.code, 'TOO_MANY_CONNECTIONS');
  await Promise.all([a.close(), b.close()]);

  const slow = await startGateway(t, { Limits: { UpgradesPerSecondPerIp: 2 } });
  const results = await Promise.allSettled([1, 2, 3, 4].map(async (i) => TestClient.connect(slow.url, { token: await token({ sub: `x${i}` }) })));
  const refusedUpgrades = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  t.ok(refusedUpgrades.length >= 2, 'upgrades beyond the per-second rate are refused');
  for (const r of refusedUpgrades) t.equal((r.reason as { status: number }).status, 429);
  await Promise.all(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<TestClient>).value.close()));
});
