import t from 'tap';
import { Unpackr } from 'msgpackr';
import { encodeFrame, encodeWireMsgpack as encodeMsgpack } from '../../src/protocol/codec.js';
import { integersAsInt64 } from '../../src/protocol/msgpack.js';
import { hex, toHex } from './fixtures.js';

// What a typed client does: read a map and insist the integer fields are integers.
const strict = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

t.test('a pong with a current timestamp carries the timestamp as uint64 (0xcf), never float64', async (t) => {
  const now = Date.now();
  const bytes = encodeFrame({ type: 'pong', id: 'p', data: { timestamp: now } }, 'msgpack').bytes;
  const expected = Buffer.alloc(8);
  expected.writeBigUInt64BE(BigInt(now));
  t.equal(toHex(bytes), `83a474797065a4706f6e67a26964a170a46461746181a974696d657374616d70cf${expected.toString('hex')}`);
  // The token itself, not a search of the hex text: the timestamp's own bytes may read 'cb'.
  const token = bytes[bytes.length - 9];
  t.equal(token, 0xcf, 'the timestamp token is uint64');
  t.not(token, 0xcb, 'no float64 token');
  t.equal((strict.unpack(bytes) as { data: { timestamp: bigint } }).data.timestamp, BigInt(now));
});

t.test('every integer width: fixint, uint8..uint64, negative int64; fractions stay float64', async (t) => {
  const cases: [number, string][] = [
    [0, '00'],
    [127, '7f'],
    [255, 'cc ff'],
    [65535, 'cd ffff'],
    [2 ** 32 - 1, 'ce ffffffff'],
    [2 ** 32, 'cf 0000000100000000'],
    [Number.MAX_SAFE_INTEGER, 'cf 001fffffffffffff'],
    [-1, 'ff'],
    [-(2 ** 31), 'd2 80000000'],
    [-(2 ** 31) - 1, 'd3 ffffffff7fffffff'],
    [Number.MIN_SAFE_INTEGER, 'd3 ffe0000000000001'],
    [1.5, 'cb 3ff8000000000000'],
    [2 ** 53 + 2, 'cb 4340000000000001'], // not exact as a double: stays a float
    [1e300, 'cb 7e37e43c8800759c'],
  ];
  for (const [value, bytes] of cases) t.equal(toHex(encodeMsgpack(value)), toHex(hex(bytes)), `${value}`);
});

t.test('integers inside strings, nested maps and arrays are all found; strings that contain 0xcb are untouched', async (t) => {
  const ts = 1_764_500_000_123;
  const value = {
    s: '\u00cb\u00cb float-looking text', // UTF-8 c3 8b: no token boundary there
    bin: 'x'.repeat(300), // str16: its payload is skipped whole
    list: [ts, 0.25, { seq: 2 ** 40, retryAfterMs: 2 ** 33 + 7, neg: -(2 ** 35) }],
  };
  const bytes = encodeMsgpack(value);
  const decoded = strict.unpack(bytes) as { s: string; bin: string; list: [bigint, number, Record<string, bigint>] };
  t.equal(decoded.s, value.s);
  t.equal(decoded.bin, value.bin);
  t.equal(decoded.list[0], BigInt(ts), 'timestamp is an integer');
  t.equal(decoded.list[1], 0.25, 'a fraction stays a float');
  t.strictSame(decoded.list[2], { seq: 2n ** 40n, retryAfterMs: 2n ** 33n + 7n, neg: -(2n ** 35n) });
});

t.test('integersAsInt64 leaves bytes without float64 alone and rewrites in place', async (t) => {
  const small = encodeMsgpack({ a: 1 });
  t.equal(integersAsInt64(small), small, 'same buffer back');
  const bytes = hex('92 cb 41d0000000000000 cb 3ff8000000000000'); // [2^30 as a double, 1.5]
  integersAsInt64(bytes);
  t.equal(toHex(bytes), toHex(hex('92 cf 0000000040000000 cb 3ff8000000000000')));
});
