import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { TestClient, type Format } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/** Room left in a MaxMessageBytes frame for the envelope around `content`. */
const ENVELOPE = 128;

function payload(size: number): string {
  return randomBytes(Math.ceil(size * 0.75) + 3).toString('base64').slice(0, size);
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

for (const format of ['json', 'msgpack'] as Format[]) {
  t.test(`${format}: messages from 1 byte to MaxMessageBytes arrive intact to a slow reader`, async (t) => {
    const max = 64 * 1024;
    const { url } = await startGateway(t, { Limits: { MaxMessageBytes: max, MaxBackpressure: '1MiB' } });
    const sender = await TestClient.connect(url, { token: await token({ sub: 'sender' }), format });
    const reader = await TestClient.connect(url, { token: await token({ sub: 'reader' }), format });
    const sizes = [1, 2, 125, 126, 127, 1000, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 32 * 1024, 65535 - ENVELOPE, max - ENVELOPE];
    const all = [...sizes, ...sizes, ...sizes]; // ~560 KB in all, well past the kernel's socket buffers
    const sent = all.map(payload);

    reader.ws.pause(); // stop reading: the data backs up in the socket and in uWS
    for (const content of sent) {
      const ack = await sender.request({ type: 'message', data: { to: 'reader', content } });
      t.equal(ack.data.status, 'delivered');
    }
    reader.ws.resume();

    for (let i = 0; i < sent.length; i++) {
      const m = await reader.next((f) => f.type === 'message', 10_000);
      t.equal(m.data.content.length, sent[i]!.length, `message ${i} (${sent[i]!.length} bytes): length`);
      t.equal(digest(m.data.content), digest(sent[i]!), `message ${i}: bytes identical, in order`);
    }
    await Promise.all([sender.close(), reader.close()]);
  });
}

t.test('a reader that never catches up is closed; others keep receiving', async (t) => {
  const { url, gateway } = await startGateway(t, {
    WriteTimeout: '1s',
    Limits: { MaxMessageBytes: '64KiB', MaxBackpressure: '128KiB' },
    Groups: { Open: ['feed'] },
  });
  const publisher = await TestClient.connect(url, { token: await token({ sub: 'pub' }) });
  const stuck = await TestClient.connect(url, { token: await token({ sub: 'stuck' }) });
  const healthy = await TestClient.connect(url, { token: await token({ sub: 'healthy' }) });
  for (const c of [publisher, stuck, healthy]) await c.request({ type: 'join', data: { group: 'feed' } });
  stuck.ws.pause();
  const chunk = payload(60_000);
  let published = 0;
  // Bounded: at most 400 messages (~24 MB), stopping as soon as the server dropped the
  // stuck reader (the paused client itself cannot notice until it reads again).
  while (gateway.hub.userConnectionCount('stuck') > 0 && published < 400) {
    await publisher.request({ type: 'group', data: { group: 'feed', content: chunk } });
    published += 1;
    await healthy.next((f) => f.type === 'group', 5000);
  }
  stuck.ws.resume();
  const closed = await stuck.closed;
  t.ok([4000, 1006].includes(closed.code), `stuck reader closed (code ${closed.code})`);
  t.equal(gateway.hub.userConnectionCount('stuck'), 0, 'removed from the hub');
  t.equal((await healthy.request({ type: 'ping' })).type, 'pong', 'the healthy reader is unaffected');
  t.ok(published < 400, `closed after ${published} messages`);
  await Promise.all([publisher.close(), healthy.close()]);
});

t.test('a send buffer that stays over MaxBackpressure for WriteTimeout closes with 4000', async (t) => {
  const { url, gateway } = await startGateway(t, {
    WriteTimeout: '1s',
    Limits: { MaxMessageBytes: '64KiB', MaxBackpressure: '256KiB' },
    Groups: { Open: ['feed'] },
  });
  const publisher = await TestClient.connect(url, { token: await token({ sub: 'pub' }) });
  const stuck = await TestClient.connect(url, { token: await token({ sub: 'stuck' }) });
  for (const c of [publisher, stuck]) await c.request({ type: 'join', data: { group: 'feed' } });
  stuck.ws.pause();
  const conn = gateway.hub.userConnections('stuck')[0]!;
  const chunk = payload(30_000);
  let published = 0;
  // Fill the socket buffers, then uWS's, until just over the soft limit (bounded: 1000 sends).
  while ((conn.socket?.bufferedAmount() ?? 0) <= 256 * 1024 && published < 1000) {
    await publisher.request({ type: 'group', data: { group: 'feed', content: chunk } });
    published += 1;
  }
  t.ok((conn.socket?.bufferedAmount() ?? 0) > 256 * 1024, `buffer over the soft limit after ${published} messages`);
  const overAt = Date.now();
  const deadline = overAt + 10_000;
  while (gateway.hub.userConnectionCount('stuck') > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const elapsed = Date.now() - overAt;
  t.equal(gateway.hub.userConnectionCount('stuck'), 0, 'closed by the server');
  t.ok(elapsed >= 900, `not before WriteTimeout (${elapsed} ms)`);
  stuck.ws.resume();
  t.equal((await stuck.closed).code, 4000, 'close code 4000 (slow consumer) reaches the client once it reads');
  t.equal(gateway.metrics.get('slow_consumers_closed_total'), 1);
  await publisher.close();
});
