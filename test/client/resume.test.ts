import t from 'tap';
import { tempDir } from '../helpers/gateway.js';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { token } from '../helpers/tokens.js';
import { freePort, sdk, until } from '../helpers/sdk.js';

const TOTAL = 1000;

t.test('1,000 direct messages arrive exactly once and in order while the gateway is SIGKILLed and restarted 3 times', { timeout: 300_000 }, async (t) => {
  const port = await freePort();
  const settings = {
    Port: port,
    Offline: { Engine: 'journal', Path: tempDir(t, 'switchboard-resume-') },
    Limits: { RateLimit: { MessagesPerSecond: 100_000, Burst: 100_000 } },
  };
  let gw: GatewayProcess = await spawnGateway(t, settings);
  const fast = { minReconnectDelay: 200, maxReconnectDelay: 1000 };
  const alice = sdk(t, { url: gw.url, getToken: () => token({ sub: 'alice' }), ...fast });
  const bob = sdk(t, { url: gw.url, getToken: () => token({ sub: 'bob' }), ack: { every: 20, interval: 50 }, ...fast });
  await Promise.all([alice.next('connected'), bob.next('connected')]);

  const received: number[] = [];
  const frames: string[] = [];
  bob.client.on('message', (m) => {
    received.push((m.content as { i: number }).i);
    frames.push(`${m.epoch ?? '-'}/${m.seq}/${(m.content as { i: number }).i}${m.offline === true ? 'o' : ''}`);
  });

  // The killer: SIGKILL whenever bob has seen another quarter, then start again on the same port and files.
  let kills = 0;
  const started = Date.now();
  /** On failure: where bob's seq sequence jumped ("epoch/seq/i", o = offline replay). */
  const diagnose = (): void => {
    const jumps: string[] = [];
    for (let k = 1; k < frames.length; k++) {
      const a = Number(frames[k - 1]!.split('/')[1]);
      const b = Number(frames[k]!.split('/')[1]);
      if (b !== a + 1) jumps.push(`${frames[k - 1]} -> ${frames[k]}`);
    }
    t.comment(`seq jumps: ${jumps.join(' | ')}`);
  };
  const killer = (async () => {
    for (const mark of [250, 500, 750]) {
      await until(() => received.length >= mark, 60_000, `${mark} messages`);
      const connected = [alice.events('connected').length, bob.events('connected').length];
      gw.child.kill('SIGKILL');
      await gw.exited;
      kills++;
      t.comment(`killed at ${received.length} received (${Date.now() - started} ms)`);
      gw = await spawnGateway(t, settings);
      // Each kill must find both clients connected: a stream that outruns the marks
      // would otherwise kill a gateway the clients had not come back to yet.
      await until(() => alice.events('connected').length > connected[0]! && bob.events('connected').length > connected[1]!, 30_000, 'both clients back');
    }
  })();

  // A stream: up to WINDOW sends in flight, in call order on one connection.
  const WINDOW = 20;
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < TOTAL; i++) {
    const p = alice.client.send('bob', { i }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await killer;
  await until(() => received.length >= TOTAL, 60_000, `${TOTAL} messages`).catch((err: unknown) => {
    diagnose();
    const seen = new Set(received);
    const missing = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => !seen.has(i));
    t.comment(`received ${received.length}, distinct ${seen.size}, missing ${missing.slice(0, 20).join(',')}${missing.length > 20 ? '…' : ''}`);
    throw err;
  });
  t.equal(kills, 3, 'the gateway was killed three times during the stream');
  t.ok(alice.events('disconnected').length >= 3 && bob.events('disconnected').length >= 3, 'both clients lost their connection each time');

  // Let any late redelivery (a replay of unacknowledged messages) reach bob before judging.
  const before = bob.log.length;
  await bob.client.presence(['alice']);
  await until(() => bob.log.length >= before, 1000, 'settle');
  t.equal(received.length, TOTAL, 'exactly 1,000 messages reached the application');
  const inOrder = t.same(received, Array.from({ length: TOTAL }, (_, i) => i), 'each once, in order');
  if (!inOrder || received.length !== TOTAL) diagnose();
});
