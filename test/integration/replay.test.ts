import t from 'tap';
import WebSocket from 'ws';
import { unpack } from 'msgpackr';
import { startGateway } from '../helpers/gateway.js';
import { token } from '../helpers/tokens.js';

/**
 * Large inbox replays: paced on the send buffer, never past a gap, and patient with a
 * reader that stalls for a moment. 7,500 stored messages of 4 KiB each (~30 MB) are more
 * than ten times the hard backpressure limit of a default connection.
 */
const COUNT = 7_500;
const CONTENT = 'x'.repeat(4096);

async function fill(inbox: { append: (u: string, e: any) => Promise<unknown> }, userId: string): Promise<void> {
  const now = Date.now();
  for (let i = 1; i <= COUNT; i++) await inbox.append(userId, { mid: `m${i}`, from: 'sender', to: userId, content: CONTENT, timestamp: now });
}

/**
 * Connects as `userId` and reads the replay; resolves with what arrived once all COUNT
 * messages did, or rejects on a gap, a close or the deadline. `stallAfter`: pause
 * reading for `stallMs` after that many messages.
 */
function readReplay(url: string, tok: string, opts: { stallAfter?: number; stallMs?: number } = {}): Promise<{ last: number; closed?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['msgpack'], { headers: { authorization: `Bearer ${tok}` } });
    let expected = 1;
    let stalled = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`replay incomplete after 60 s: got 1..${expected - 1}`));
    }, 60_000);
    ws.on('message', (data: Buffer) => {
      const frame = unpack(data) as { type: string; data: { seq: number; offline?: boolean } };
      if (frame.type !== 'message') return;
      if (frame.data.seq !== expected) {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`gap: expected seq ${expected}, got ${frame.data.seq}`));
        return;
      }
      expected += 1;
      if (!stalled && opts.stallAfter !== undefined && expected > opts.stallAfter) {
        stalled = true;
        ws.pause();
        setTimeout(() => ws.resume(), opts.stallMs ?? 500);
      }
      if (expected > COUNT) {
        clearTimeout(timer);
        ws.close();
        resolve({ last: expected - 1 });
      }
    });
    ws.on('close', (code) => {
      if (expected <= COUNT) {
        clearTimeout(timer);
        reject(new Error(`closed with ${code} after 1..${expected - 1}`));
      }
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

t.test('a 7,500 × 4 KiB inbox replays complete and gap-free, 50 times in a row', async (t) => {
  const { url, gateway } = await startGateway(t, { Offline: { Engine: 'memory', MaxPerUser: 10_000 } });
  await fill(gateway.engines.inbox, 'reader');
  const tok = await token({ sub: 'reader' });
  let complete = 0;
  for (let run = 0; run < 50; run++) {
    const { last } = await readReplay(url, tok);
    if (last === COUNT) complete += 1;
    // The next run connects as the same user: wait until this connection is gone.
    const deadline = Date.now() + 5_000;
    while (gateway.hub.userConnectionCount('reader') > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  }
  t.equal(complete, 50, 'every replay delivered seq 1..7500 with no gap');
});

t.test('a reader that stalls for 500 ms during a large replay still gets all of it on one connection', async (t) => {
  const { url, gateway } = await startGateway(t, { Offline: { Engine: 'memory', MaxPerUser: 10_000 } });
  await fill(gateway.engines.inbox, 'phone');
  const result = await readReplay(url, await token({ sub: 'phone' }), { stallAfter: 1_000, stallMs: 500 });
  t.equal(result.last, COUNT, 'complete after the stall, without a reconnect');
});
