import t from 'tap';
import WebSocket from 'ws';
import { startGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

interface Outcome {
  /** 'open' when the handshake completed (then `close` follows), else the HTTP status of the refusal. */
  handshake: 'open' | number;
  close?: { code: number; reason: string };
  body?: string;
}

/** Connects like a browser would (an Origin header) or not, and reports how the server answered. */
function attempt(url: string, opts: { origin?: string; token?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<Outcome> {
  const target = new URL(url);
  if (opts.token !== undefined) target.searchParams.set('token', opts.token);
  const ws = new WebSocket(target, opts.protocols ?? [], { ...(opts.origin !== undefined ? { origin: opts.origin } : {}), headers: opts.headers ?? {} });
  return new Promise((resolve, reject) => {
    let opened = false;
    ws.once('open', () => (opened = true));
    ws.once('close', (code, reason) => {
      if (opened) resolve({ handshake: 'open', close: { code, reason: reason.toString() } });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ handshake: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!opened) reject(err);
    });
  });
}

/** A metric's value, summed over its label values (0 when no series exists yet). */
async function metric(httpUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  if (!text.includes(`# TYPE switchboard_${name} `)) throw new Error(`metric ${name} missing`);
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^switchboard_${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

t.test('a browser refused for a bad token gets close 4001 with the reason; a client without Origin keeps HTTP 401', async (t) => {
  const { url, httpUrl } = await startGateway(t);
  const bad = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
  const browser = await attempt(url, { origin: 'https://app.example.com', token: bad, protocols: ['json'] });
  t.equal(browser.handshake, 'open', 'the handshake completes');
  t.equal(browser.close?.code, 4001, 'close code 4001 (UNAUTHORIZED)');
  t.equal(browser.close?.reason, 'bad token signature', 'the reason says why');
  t.notOk(browser.close?.reason.includes(bad), 'the token is never echoed');
  const missing = await attempt(url, { origin: 'https://app.example.com' });
  t.strictSame(missing.close, { code: 4001, reason: 'missing token' });
  const cli = await attempt(url, { token: bad });
  t.equal(cli.handshake, 401, 'no Origin: the HTTP status as before');
  t.match(cli.body, /"code":"UNAUTHORIZED"/);
  t.equal(await metric(httpUrl, 'upgrades_refused_in_band_total'), 2, 'in-band refusals counted');
  t.equal(await metric(httpUrl, 'connections_opened_total'), 0, 'a refused socket never becomes a session');
  t.equal(await metric(httpUrl, 'connections_current'), 0);
});

t.test('browser refusals carry the registry close code: 4029, 1013, 1008', async (t) => {
  const { url } = await startGateway(t, { MaxConn: 2, Limits: { MaxConnPerUser: 1 } });
  const origin = 'http://localhost:3000';
  const first = await TestClient.connect(url, { token: await token({ sub: 'u1' }) });
  const sameUser = await attempt(url, { origin, token: await token({ sub: 'u1' }) });
  t.equal(sameUser.close?.code, 4029, 'TOO_MANY_CONNECTIONS → 4029');
  t.match(sameUser.close?.reason, /connections/);
  const badFormat = await attempt(url, { origin, token: await token({ sub: 'u2' }), protocols: ['xml'] });
  t.equal(badFormat.handshake, 'open', 'the offered subprotocol is echoed so the browser accepts the handshake');
  t.equal(badFormat.close?.code, 1008, 'BAD_REQUEST → 1008');
  const second = await TestClient.connect(url, { token: await token({ sub: 'u3' }) });
  const full = await attempt(url, { origin, token: await token({ sub: 'u4' }) });
  t.strictSame(full.close, { code: 1013, reason: 'server at connection capacity' }, 'SERVER_FULL → 1013');
  await Promise.all([first.close(), second.close()]);
});

t.test('Http.AllowedOrigins: exact origins and *.domain patterns; others refused before any slot is taken', async (t) => {
  const { url, httpUrl } = await startGateway(t, { Http: { AllowedOrigins: ['https://app.example.com', '*.example.org'] } });
  const good = await token({ sub: 'o1' });
  for (const origin of ['https://app.example.com', 'https://a.example.org', 'http://b.c.example.org']) {
    const ws = new WebSocket(`${url}?token=${good}`, { origin });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    t.pass(`${origin} allowed`);
    ws.close();
    await new Promise((r) => ws.once('close', r));
  }
  for (const origin of ['https://evil.example.com', 'https://example.org', 'https://app.example.com:8443', 'null']) {
    const refused = await attempt(url, { origin, token: good });
    t.strictSame(refused.close, { code: 4003, reason: 'origin not allowed (Http.AllowedOrigins)' }, `${origin} refused with 4003`);
  }
  const noOrigin = await TestClient.connect(url, { token: good });
  t.equal((await noOrigin.request({ type: 'ping' })).type, 'pong', 'clients without Origin are not affected');
  await noOrigin.close();
  t.equal(await metric(httpUrl, 'connections_opened_total'), 4, 'only the allowed connections opened');
});

t.test('HEAD /healthz is 200 without a body; GET /ws without Upgrade is 426', async (t) => {
  const { httpUrl } = await startGateway(t);
  const head = await fetch(`${httpUrl}/healthz`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal((await head.arrayBuffer()).byteLength, 0, 'no body');
  const plain = await fetch(`${httpUrl}/ws`);
  t.equal(plain.status, 426);
  t.equal(plain.headers.get('upgrade'), 'websocket');
  t.match(await plain.json(), { error: { code: 'UPGRADE_REQUIRED' } });
});

t.test('/readyz answers 503 at MaxConn and 200 again below it', async (t) => {
  const { url, httpUrl } = await startGateway(t, { MaxConn: 2 });
  t.equal((await fetch(`${httpUrl}/readyz`)).status, 200);
  const a = await TestClient.connect(url, { token: await token({ sub: 'r1' }) });
  const b = await TestClient.connect(url, { token: await token({ sub: 'r2' }) });
  const full = await fetch(`${httpUrl}/readyz`);
  t.equal(full.status, 503, 'at MaxConn: not ready');
  t.match(await full.json(), { status: 'not-ready', reason: /MaxConn/ });
  t.equal((await fetch(`${httpUrl}/readyz`, { method: 'HEAD' })).status, 503, 'HEAD agrees');
  await a.close();
  const started = Date.now();
  while ((await fetch(`${httpUrl}/readyz`)).status !== 200) {
    if (Date.now() - started > 3000) throw new Error('readyz stayed 503 below MaxConn');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.pass('ready again below MaxConn');
  await b.close();
});

t.test('FORBIDDEN replies count in frames_rejected_total', async (t) => {
  const { url, httpUrl } = await startGateway(t);
  const c = await TestClient.connect(url, { token: await token({ sub: 'f1' }) });
  const before = await metric(httpUrl, 'frames_rejected_total');
  const reply = await c.request({ type: 'broadcast', data: { content: 'x' } });
  t.equal(reply.data.code, 'FORBIDDEN');
  t.equal(await metric(httpUrl, 'frames_rejected_total'), before + 1);
  await c.close();
});

t.test('MessagePack frames on a real socket carry timestamps as uint64 (0xcf)', async (t) => {
  const { url } = await startGateway(t);
  const ws = new WebSocket(`${url}?token=${await token({ sub: 'mp' })}`, ['msgpack']);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const reply = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
  ws.send(Buffer.from('81a474797065a470696e67', 'hex')); // {type:"ping"}
  const bytes = await reply;
  const at = bytes.indexOf(Buffer.from('a974696d657374616d70', 'hex')); // "timestamp"
  t.ok(at > 0, 'has a timestamp key');
  t.equal(bytes[at + 10], 0xcf, 'the timestamp is a uint64, not a float64 (0xcb)');
  const value = Number(bytes.readBigUInt64BE(at + 11));
  t.ok(Math.abs(value - Date.now()) < 60_000, 'and it is the current time');
  ws.close();
});

t.test('a reader dropped at the hard send-buffer limit is counted in backpressure_drops_total', async (t) => {
  const { url, httpUrl, gateway } = await startGateway(t, {
    // WriteTimeout long enough that the slow-consumer close (4000) never comes first.
    WriteTimeout: '10m',
    Limits: { MaxMessageBytes: '64KiB', MaxBackpressure: '4MiB' },
    Groups: { Open: ['feed'] },
  });
  const publisher = await TestClient.connect(url, { token: await token({ sub: 'pub' }) });
  const stuck = await TestClient.connect(url, { token: await token({ sub: 'stuck' }) });
  for (const c of [publisher, stuck]) await c.request({ type: 'join', data: { group: 'feed' } });
  stuck.ws.pause();
  const chunk = 'x'.repeat(60_000);
  let published = 0;
  // Paced so the sweep (one visit per connection per second) sees the buffer over the
  // soft limit before it reaches the hard one; bounded at ~40 MB.
  while (gateway.hub.userConnectionCount('stuck') > 0 && published < 700) {
    await publisher.request({ type: 'group', data: { group: 'feed', content: chunk } });
    published += 1;
    await new Promise((r) => setTimeout(r, 25));
  }
  t.equal(gateway.hub.userConnectionCount('stuck'), 0, `the stuck reader was dropped after ${published} messages`);
  t.equal(await metric(httpUrl, 'backpressure_drops_total'), 1, 'and counted once');
  t.equal(await metric(httpUrl, 'slow_consumers_closed_total'), 0, 'not as a slow consumer (4000)');
  stuck.ws.resume();
  await stuck.closed;
  await publisher.close();
});
