import t from 'tap';
import { pack, unpack } from 'msgpackr';
import { decodeMsgpack, encodeMsgpack } from '../../src/client/msgpack.js';
import { backoffDelay, closeAction } from '../../src/client/backoff.js';
import { InboxReceiver } from '../../src/client/receiver.js';
import { tokenExpiry } from '../../src/client/token.js';

const SAMPLES: unknown[] = [
  null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -1.25, 1e300,
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'é😀'.repeat(100), 'y'.repeat(70_000),
  [], [1, 'two', [3]], Array.from({ length: 20 }, (_, i) => i), Array.from({ length: 70_000 }, () => 0),
  {}, { type: 'message', id: 'a-1', data: { to: 'bob', content: { nested: [1, { deep: true }] } } },
  Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])),
];

t.test('the SDK codec and msgpackr (what the gateway runs) agree both ways', async (t) => {
  for (const value of SAMPLES) {
    t.same(unpack(encodeMsgpack(value)), value, `SDK → msgpackr: ${JSON.stringify(value).slice(0, 40)}`);
    t.same(decodeMsgpack(pack(value)), value, `msgpackr → SDK: ${JSON.stringify(value).slice(0, 40)}`);
  }
  t.same(decodeMsgpack(encodeMsgpack({ a: undefined, b: 1 })), { b: 1 }, 'undefined members are left out, as in JSON');
});

t.test('the decoder refuses malformed input with a TypeError', async (t) => {
  const whole = encodeMsgpack({ type: 'ack', data: { upTo: 300, list: ['a', 'b'] } });
  for (let n = 0; n < whole.length; n++) t.throws(() => decodeMsgpack(whole.subarray(0, n)), TypeError, `prefix of ${n} bytes`);
  t.throws(() => decodeMsgpack(new Uint8Array([0xc4, 1, 0])), TypeError, 'binary');
  t.throws(() => decodeMsgpack(new Uint8Array([0xd4, 1, 0])), TypeError, 'extension');
  t.throws(() => decodeMsgpack(new Uint8Array([0x81, 0x01, 0x01])), TypeError, 'non-string key');
  t.throws(() => decodeMsgpack(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])), TypeError, 'array length beyond the input');
  t.throws(() => decodeMsgpack(new Uint8Array([0x01, 0x02])), TypeError, 'trailing bytes');
  t.throws(() => encodeMsgpack(NaN), TypeError);
  const proto = decodeMsgpack(pack({ ['__proto__']: { polluted: true } })) as Record<string, unknown>;
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution');
  t.ok(Object.prototype.hasOwnProperty.call(proto, '__proto__'));
});

t.test('full-jitter backoff and close-code decisions', async (t) => {
  const opts = { minDelay: 500, maxDelay: 20_000 };
  t.equal(backoffDelay(0, opts, () => 0.999), 499);
  t.equal(backoffDelay(3, opts, () => 0.5), 2000);
  t.equal(backoffDelay(10, opts, () => 0.999), 19_980, 'capped at maxDelay');
  t.equal(backoffDelay(1000, opts, () => 0), 0, 'full jitter reaches 0');
  for (const code of [1000, 1006, 1011, 1012, 1013, 4000]) t.same(closeAction(code), { kind: 'reconnect', slow: false }, `${code}: reconnect`);
  for (const code of [1008, 4029]) t.same(closeAction(code), { kind: 'reconnect', slow: true }, `${code}: slowly`);
  t.same(closeAction(1006, 429), { kind: 'reconnect', slow: true }, 'upgrade 429: slowly');
  for (const code of [4003, 4008, 4010]) t.same(closeAction(code), { kind: 'stop' }, `${code}: stop`);
  t.same(closeAction(1006, 403), { kind: 'stop' }, 'upgrade 403: stop');
  t.same(closeAction(4001), { kind: 'auth' });
  t.same(closeAction(1006, 401), { kind: 'auth' });
  t.same(closeAction(4011), { kind: 'new-token' });
});

t.test('the receiver drops duplicates by mid and by seq within an epoch, and batches acks', async (t) => {
  const acks: [number, string | undefined][] = [];
  const r = new InboxReceiver({
    ackEvery: 3, ackInterval: 60_000, sendAck: (upTo, epoch) => (acks.push([upTo, epoch]), true),
    deliver: () => {}, sync: async () => undefined, syncFailed: () => {},
  });
  const m = (seq: number, mid = `m${seq}`, epoch?: string) => ({ mid, seq, ...(epoch ? { epoch } : {}) });
  const seen = [m(1), m(2), m(2), m(1, 'other'), m(3), m(3, 'm3-again')].map((x) => {
    const fresh = r.accept(x);
    r.handled(x);
    return fresh;
  });
  t.same(seen, [true, true, false, false, true, false]);
  t.same(acks, [[2, undefined], [3, undefined]], 'cumulative ack every 3 messages, duplicates counted');
  t.equal(r.gapBefore(m(5)), 3, 'seq 5 after 3 is a gap');
  t.equal(r.gapBefore(m(4)), undefined);
  t.equal(r.accept(m(1, 'n1', 'e2')), true, 'a new epoch starts the count again');
  t.equal(r.accept(m(1, 'm1', 'e2')), false, 'but a known mid stays a duplicate');
  r.handled(m(1, 'n1', 'e2'));
  r.flush();
  t.same(acks.at(-1), [1, 'e2'], 'acks carry the epoch of the messages they cover');
  r.stop();
});

t.test('after a seq gap the receiver holds messages until sync is answered, then delivers in seq order once', async (t) => {
  const delivered: number[] = [];
  const acks: number[] = [];
  let answer!: () => void;
  const asked: number[] = [];
  const r = new InboxReceiver({
    ackEvery: 1, ackInterval: 60_000, sendAck: (upTo) => (acks.push(upTo), true),
    deliver: (m) => delivered.push(m.seq),
    sync: (after) => {
      asked.push(after);
      return new Promise<void>((resolve) => (answer = resolve));
    },
    syncFailed: () => t.fail('sync does not fail here'),
  });
  const m = (seq: number) => ({ mid: `m${seq}`, seq });
  r.receive(m(1));
  r.receive(m(2));
  r.receive(m(5));
  t.same(asked, [2], 'a gap after seq 2: sync {after: 2}');
  r.receive(m(6));
  r.receive(m(3));
  r.receive(m(4));
  r.receive(m(5));
  r.receive(m(6));
  t.same(delivered, [1, 2], 'nothing past the gap is delivered ...');
  t.equal(Math.max(...acks), 2, '... or acknowledged before the sync answer');
  answer();
  await new Promise((resolve) => setTimeout(resolve, 0));
  t.same(delivered, [1, 2, 3, 4, 5, 6], 'then in seq order, each once');
  t.equal(Math.max(...acks), 6);
  r.stop();
});

t.test('tokenExpiry reads exp without verifying, and tolerates opaque tokens', async (t) => {
  const payload = Buffer.from(JSON.stringify({ sub: 'a', exp: 1_900_000_000 })).toString('base64url');
  t.equal(tokenExpiry(`h.${payload}.s`), 1_900_000_000_000);
  t.equal(tokenExpiry('opaque-token'), undefined);
  t.equal(tokenExpiry('a.!!!.c'), undefined);
});
