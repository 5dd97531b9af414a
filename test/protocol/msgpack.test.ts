import t from 'tap';
import { Unpackr, unpack } from 'msgpackr';
import { decodeFrame, encodeMsgpack, isGroupName, isUserId } from '../../src/protocol/codec.js';
import { hex, mp, prototypeSnapshot, Raw, utf8 } from './fixtures.js';

const protoBefore = prototypeSnapshot();
const PROTO_KEY = 'a9 5f5f70726f746f5f5f'; // "__proto__"
const POLLUTED = 'a8 706f6c6c75746564'; // "polluted"

t.test('msgpackr itself never lets __proto__ reach a prototype (it renames the key)', async (t) => {
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false, int64AsType: 'string' });
  const fixtures = {
    fixmap: hex(`81 ${PROTO_KEY} 81 ${POLLUTED} c3`),
    map16: hex(`de 00 01 ${PROTO_KEY} 81 ${POLLUTED} c3`),
    'record definition': hex(`d4 72 40 91 ${PROTO_KEY} 81 ${POLLUTED} c3`),
  };
  for (const [name, bytes] of Object.entries(fixtures)) {
    for (const decode of [(b: Uint8Array) => unpackr.unpack(b), (b: Uint8Array) => unpack(b)]) {
      const value = decode(bytes) as Record<string, unknown>;
      t.equal(Object.getPrototypeOf(value), Object.prototype, `${name}: prototype untouched`);
      t.equal(value.polluted, undefined, `${name}: nothing inherited`);
      t.strictSame(Object.keys(value), ['__proto_'], `${name}: key renamed to __proto_`);
      t.equal(({} as Record<string, unknown>).polluted, undefined, `${name}: Object.prototype untouched`);
    }
  }
  // The codec does not accept the silently renamed key: it rejects the original.
  const result = decodeFrame(mp({ type: 'broadcast', data: { content: new Raw(fixtures.fixmap) } }), true);
  t.notOk(result.ok);
  if (!result.ok) t.match(result.error.message, /map key '__proto__'/);
  t.strictSame(prototypeSnapshot(), protoBefore);
});

t.test('the codec leaves msgpackr global state alone', async (t) => {
  // No global extension was registered: the stock decoder still builds Dates and Sets.
  t.ok(unpack(hex('d6 ff 00 00 00 00')) instanceof Date, 'timestamp ext still decodes elsewhere');
  t.ok(unpack(hex('d4 73 00 91 01')) instanceof Set, 'set ext still decodes elsewhere');
  const rejected = decodeFrame(mp({ type: 'broadcast', data: { content: new Raw(hex('d6 ff 00 00 00 00')) } }), true);
  t.notOk(rejected.ok, 'while the codec rejects them');
});

t.test('every scalar and container encoding of the JSON subset decodes', async (t) => {
  const content = hex(`
    de 00 0e                                   # map16 of 14
    a2 70 69  07                               # "pi": positive fixint 7
    a2 6e 69  e0                               # "ni": negative fixint -32
    a2 75 38  cc ff                            # "u8": 255
    a3 75 31 36  cd ff ff                      # "u16": 65535
    a3 75 33 32  ce ff ff ff ff                # "u32": 4294967295
    a3 69 33 32  d2 80 00 00 00                # "i32": -2147483648
    a2 69 38  d0 80                            # "i8": -128
    a3 69 31 36  d1 80 00                      # "i16": -32768
    a1 73  da 00 02 6f 6b                      # "s": str16 "ok"
    a2 73 33  db 00 00 00 02 c3 a9             # "s3": str32 "é"
    a1 61  dd 00 00 00 02 c2 c3                # "a": array32 [false, true]
    a2 61 31  dc 00 01 c0                      # "a1": array16 [null]
    a1 6d  df 00 00 00 01 a1 6b 90             # "m": map32 {k: []}
    a1 65  80                                  # "e": {}
  `);
  const result = decodeFrame(mp({ type: 'broadcast', id: 'all', data: { content: new Raw(content) } }), true);
  t.ok(result.ok);
  if (result.ok) {
    t.strictSame(result.frame, {
      type: 'broadcast', id: 'all', data: { content: {
        pi: 7, ni: -32, u8: 255, u16: 65535, u32: 4294967295, i32: -2147483648, i8: -128, i16: -32768,
        s: 'ok', s3: 'é', a: [false, true], a1: [null], m: { k: [] }, e: {},
      } },
    });
  }
});

// A small deterministic PRNG so a failure can be reproduced from the seed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function isJsonValue(value: unknown, depth = 0): boolean {
  if (depth > 40) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJsonValue(v, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).every((v) => isJsonValue(v, depth + 1));
  }
  return false;
}

t.test('mutated frames never throw, never INTERNAL, and only yield JSON values', async (t) => {
  const random = prng(0x5eed);
  const seeds: [Uint8Array, boolean][] = [
    [encodeMsgpack({ type: 'message', id: 'f', data: { to: 'bob', content: { a: [1, -2, 3.5, 'x', null, true], b: { c: 'dé' } } } }), true],
    [encodeMsgpack({ type: 'presence', data: { users: ['a', 'b'] } }), true],
    [utf8('{"type":"group","id":"f","data":{"group":"g","content":[1,{"k":"v"},null]}}'), false],
  ];
  let accepted = 0;
  for (let i = 0; i < 3000; i++) {
    const [seed, binary] = seeds[i % seeds.length];
    const bytes = Uint8Array.from(seed);
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits; e++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const result = decodeFrame(bytes, binary);
    if (!result.ok) {
      if (result.error.code !== 'BAD_REQUEST') t.fail(`iteration ${i}: ${result.error.code} ${String(result.error.cause)}`);
    } else {
      accepted++;
      if (!isJsonValue(result.frame)) t.fail(`iteration ${i}: non-JSON value accepted`);
    }
  }
  t.ok(accepted > 0, `some mutations still decode (${accepted})`);
  for (let i = 0; i < 500; i++) {
    const bytes = Uint8Array.from({ length: 1 + Math.floor(random() * 64) }, () => Math.floor(random() * 256));
    const result = decodeFrame(bytes, i % 2 === 0);
    if (!result.ok && result.error.code !== 'BAD_REQUEST') t.fail(`random bytes: ${result.error.code}`);
    if (result.ok && !isJsonValue(result.frame)) t.fail('random bytes: non-JSON value accepted');
  }
  t.strictSame(prototypeSnapshot(), protoBefore);
});

t.test('isUserId and isGroupName', async (t) => {
  for (const check of [isUserId, isGroupName]) {
    t.ok(check('alice'));
    t.ok(check('svc:bot@eu-1.x_y'));
    t.ok(check('名前'));
    t.notOk(check(''));
    t.notOk(check('a b'));
    t.notOk(check('a*'));
    t.notOk(check('a\u0007'));
    t.notOk(check('x'.repeat(129)));
    t.notOk(check(42));
    t.notOk(check(null));
    t.notOk(check(['a']));
  }
});
