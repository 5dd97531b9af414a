import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

t.test('a client that stops answering pings is closed and removed from the hub', async (t) => {
  const { url, gateway } = await startGateway(t, { ReadTimeout: '8s', HeartbeatInterval: '4s' });
  const tok = await token({ sub: 'sleepy' });
  // autoPong off: the client library will not answer the server's pings.
  const dead = await TestClient.connect(url, { token: tok, wsOptions: { autoPong: false } });
  const alive = await TestClient.connect(url, { token: await token({ sub: 'awake' }) });
  let pinged = false;
  dead.ws.on('ping', () => (pinged = true));
  t.equal(gateway.hub.userConnectionCount('sleepy'), 1);
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    dead.closed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('dead client not closed within 30 s')), 30_000);
    }),
  ]).finally(() => clearTimeout(timer));
  t.ok(pinged, 'the server pinged the idle client');
  t.not(closed.code, 1000, `closed by the server (code ${closed.code})`);
  t.equal(gateway.hub.userConnectionCount('sleepy'), 0, 'its user has no connections left');
  t.equal((await alive.request({ type: 'ping' })).type, 'pong', 'a client that answers pings stays connected');
  t.equal(gateway.hub.userConnectionCount('awake'), 1);
  await alive.close();
});

t.test('HeartbeatInterval sets the ping cadence of a quiet connection', async (t) => {
  const { url } = await startGateway(t, { ReadTimeout: '8s', HeartbeatInterval: '1s' });
  const quiet = await TestClient.connect(url, { token: await token({ sub: 'quiet' }) });
  const connectedAt = Date.now();
  const pings: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise<void>((resolve) => quiet.ws.on('ping', () => {
      pings.push(Date.now() - connectedAt);
      if (pings.length === 3) resolve();
    })),
    new Promise<never>((_, reject) => {
      // uWS's own cadence for an 8 s ReadTimeout would send its first ping after about 4 s.
      timer = setTimeout(() => reject(new Error(`only ${pings.length} pings within 4.5 s`)), 4_500);
    }),
  ]).finally(() => clearTimeout(timer));
  t.ok(pings[0]! >= 900, `no ping before the interval (first at ${pings[0]} ms)`);
  t.ok(pings[2]! - pings[0]! >= 1_500, `about one ping per interval (${pings.join(', ')} ms)`);
  t.equal((await quiet.request({ type: 'ping' })).type, 'pong', 'a client that answers pings stays connected');
  await quiet.close();
});
