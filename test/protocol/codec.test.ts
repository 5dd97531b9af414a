import t from 'tap';
import {
  decodeFrame, decodeServerFrame, encodeFrame, encodeMsgpack, EncodedFrame, errorFrame, SERVER_FRAME_TYPES,
} from '../../src/protocol/codec.js';
import { GatewayError } from '../../src/errors.js';
import type { ClientFrame, ServerFrame } from '../../src/protocol/frames.js';
import { decodeOk, hex, mp, prototypeSnapshot, toHex, utf8 } from './fixtures.js';

const protoBefore = prototypeSnapshot();

// One valid frame of every client type: the JSON text, and the expected typed frame.
// The MessagePack fixture of each is the same envelope through the spec-written `mp`.
const VALID: { name: string; json: string; frame: ClientFrame }[] = [
  { name: 'message', json: '{"type":"message","id":"m1","data":{"to":"bob","content":{"text":"héllo ✓","n":[1,2.5,-3,null,true]}}}',
    frame: { type: 'message', id: 'm1', data: { to: 'bob', content: { text: 'héllo ✓', n: [1, 2.5, -3, null, true] } } } },
  { name: 'message with from and null content', json: '{"type":"message","data":{"to":"bob@x.io","content":null,"from":"svc:bot"}}',
    frame: { type: 'message', data: { to: 'bob@x.io', content: null, from: 'svc:bot' } } },
  { name: 'join', json: '{"type":"join","id":"1","data":{"group":"room:1"}}', frame: { type: 'join', id: '1', data: { group: 'room:1' } } },
  { name: 'leave', json: '{"type":"leave","data":{"group":"Straße_2"}}', frame: { type: 'leave', data: { group: 'Straße_2' } } },
  { name: 'group', json: '{"type":"group","data":{"group":"g-1","content":"x"}}', frame: { type: 'group', data: { group: 'g-1', content: 'x' } } },
  { name: 'broadcast', json: '{"type":"broadcast","data":{"content":[]}}', frame: { type: 'broadcast', data: { content: [] } } },
  { name: 'ping', json: '{"type":"ping","id":"p"}', frame: { type: 'ping', id: 'p' } },
  { name: 'ping with empty data', json: '{"type":"ping","data":{}}', frame: { type: 'ping' } },
  { name: 'status', json: '{"type":"status","data":{"status":"away"}}', frame: { type: 'status', data: { status: 'away' } } },
  { name: 'watch', json: '{"type":"watch","data":{"users":["a","b.c","a"]}}', frame: { type: 'watch', data: { users: ['a', 'b.c', 'a'] } } },
  { name: 'unwatch', json: '{"type":"unwatch","data":{"users":["a"]}}', frame: { type: 'unwatch', data: { users: ['a'] } } },
  { name: 'presence users', json: '{"type":"presence","data":{"users":["a","b"]}}', frame: { type: 'presence', data: { users: ['a', 'b'] } } },
  { name: 'presence group', json: '{"type":"presence","data":{"group":"g"}}', frame: { type: 'presence', data: { group: 'g' } } },
  { name: 'ack', json: '{"type":"ack","data":{"upTo":9007199254740991}}', frame: { type: 'ack', data: { upTo: 9007199254740991 } } },
  { name: 'sync', json: '{"type":"sync","id":"s","data":{"after":0}}', frame: { type: 'sync', id: 's', data: { after: 0 } } },
  { name: 'join with since', json: '{"type":"join","id":"j","data":{"group":"live:1","since":{"offset":42,"epoch":"Xy_9-a"}}}',
    frame: { type: 'join', id: 'j', data: { group: 'live:1', since: { offset: 42, epoch: 'Xy_9-a' } } } },
  { name: 'join with since from a group without history', json: '{"type":"join","data":{"group":"g","since":{"offset":0,"epoch":""}}}',
    frame: { type: 'join', data: { group: 'g', since: { offset: 0, epoch: '' } } } },
  { name: 'group important', json: '{"type":"group","data":{"group":"g","content":1,"important":true}}',
    frame: { type: 'group', data: { group: 'g', content: 1, important: true } } },
  { name: 'group important false', json: '{"type":"group","data":{"group":"g","content":1,"important":false}}',
    frame: { type: 'group', data: { group: 'g', content: 1, important: false } } },
  { name: 'history, defaults', json: '{"type":"history","id":"h","data":{"group":"g"}}', frame: { type: 'history', id: 'h', data: { group: 'g', limit: 50 } } },
  { name: 'history, before and limit', json: '{"type":"history","data":{"group":"g","before":17,"limit":100}}',
    frame: { type: 'history', data: { group: 'g', limit: 100, before: 17 } } },
  { name: 'unknown top-level and data keys are dropped', json: '{"type":"join","x":1,"data":{"group":"g","extra":[1]}}',
    frame: { type: 'join', data: { group: 'g' } } },
];

t.test('valid frame of every type, JSON and MessagePack', async (t) => {
  for (const { name, json, frame } of VALID) {
    t.strictSame(decodeOk(utf8(json), false), frame, `json: ${name}`);
    t.strictSame(decodeOk(mp(JSON.parse(json)), true), frame, `msgpack: ${name}`);
  }
  const types = new Set(VALID.map((v) => v.frame.type));
  t.equal(types.size, 13, 'every client frame type is covered');
});

t.test('hand-assembled MessagePack fixture', async (t) => {
  const bytes = hex(`
    83                         # map of 3
    a4 74 79 70 65             # "type"
    a7 6d 65 73 73 61 67 65    # "message"
    a2 69 64                   # "id"
    a2 6d 31                   # "m1"
    a4 64 61 74 61             # "data"
    83                         # map of 3
    a2 74 6f                   # "to"
    a3 62 6f 62                # "bob"
    a7 63 6f 6e 74 65 6e 74    # "content"
    84                         # map of 4
    a1 61  cd 01 00            # "a": uint16 256
    a1 62  d1 ff 00            # "b": int16 -256
    a1 63  cb 3f f8 00 00 00 00 00 00  # "c": float64 1.5
    a1 64  ca 3f c0 00 00      # "d": float32 1.5
    a4 66 72 6f 6d             # "from"
    d9 03 61 6c 69             # str8 "ali"
  `);
  t.strictSame(decodeOk(bytes, true), {
    type: 'message', id: 'm1', data: { to: 'bob', content: { a: 256, b: -256, c: 1.5, d: 1.5 }, from: 'ali' },
  });
  t.strictSame(decodeOk(hex('81 a4 74797065 a4 70696e67'), true), { type: 'ping' }, '{type:"ping"}');
  const join = hex(`
    82                         # map of 2
    a4 74 79 70 65             # "type"
    a4 6a 6f 69 6e             # "join"
    a4 64 61 74 61             # "data"
    82                         # map of 2
    a5 67 72 6f 75 70          # "group"
    a2 67 31                   # "g1"
    a5 73 69 6e 63 65          # "since"
    82                         # map of 2
    a6 6f 66 66 73 65 74       # "offset"
    cd 01 2c                   # uint16 300
    a5 65 70 6f 63 68          # "epoch"
    a2 65 31                   # "e1"
  `);
  t.strictSame(decodeOk(join, true), { type: 'join', data: { group: 'g1', since: { offset: 300, epoch: 'e1' } } }, 'join with since');
  const history = hex(`
    82 a4 74797065 a7 68 69 73 74 6f 72 79     # type: "history"
    a4 64617461 83                             # data: map of 3
    a5 67 72 6f 75 70 a1 67                    # group: "g"
    a6 62 65 66 6f 72 65 ce 00 01 00 00        # before: uint32 65536
    a5 6c 69 6d 69 74 0a                       # limit: 10
  `);
  t.strictSame(decodeOk(history, true), { type: 'history', data: { group: 'g', limit: 10, before: 65536 } }, 'history');
  for (let n = 1; n < history.length; n++) {
    t.equal(decodeFrame(history.subarray(0, n), true).ok, false, `history truncated to ${n} bytes is refused`);
  }
});

t.test('MessagePack produced by encodeMsgpack round-trips', async (t) => {
  const envelope = {
    type: 'group', id: 'x'.repeat(64),
    data: { group: 'g', content: { big: 4294967296, neg: -2147483649, f: 0.1, s: 'ü'.repeat(40), deep: [[[{ k: [true, false, null] }]]] } },
  };
  const bytes = encodeMsgpack(envelope);
  t.strictSame(decodeOk(bytes, true), envelope);
  t.strictSame(decodeOk(utf8(JSON.stringify(envelope)), false), envelope, 'and the same frame as JSON');
});

t.test('int64 values: safe ones are numbers, larger ones decimal strings', async (t) => {
  const ack = (upTo: string) => hex(`82 a4 74797065 a3 61636b a4 64617461 81 a4 7570546f ${upTo}`);
  t.strictSame(decodeOk(ack('d3 00 00 00 00 00 00 00 07'), true), { type: 'ack', data: { upTo: 7 } }, 'int64 7');
  t.strictSame(decodeOk(ack('cf 00 1f ff ff ff ff ff ff'), true), { type: 'ack', data: { upTo: 2 ** 53 - 1 } }, 'uint64 2^53-1');
  const huge = decodeFrame(ack('cf ff ff ff ff ff ff ff ff'), true);
  t.equal(huge.ok, false, 'uint64 max as upTo is rejected');
  if (!huge.ok) t.match(huge.error.message, /^data\.upTo: expected an integer/);
  const broadcast = hex('82 a4 74797065 a9 62726f616463617374 a4 64617461 81 a7 636f6e74656e74 92 cf ff ff ff ff ff ff ff ff d3 80 00 00 00 00 00 00 00');
  t.strictSame(decodeOk(broadcast, true), {
    type: 'broadcast', data: { content: ['18446744073709551615', '-9223372036854775808'] },
  }, 'in content they are strings');
  t.strictSame(decodeOk(mp({ type: 'broadcast', data: { content: [0x40, 0x5f, 0x7f] } }), true),
    { type: 'broadcast', data: { content: [64, 95, 127] } }, 'fixints 0x40-0x7f are numbers, not record references');
});

const SERVER_FRAMES: ServerFrame[] = [
  { type: 'message', data: { mid: 'm1', from: 'a', to: 'b', content: { x: [1, 'two', null] }, timestamp: 1_700_000_000_123, seq: 5, offline: true } },
  { type: 'group', data: { mid: 'm2', from: 'a', group: 'g', content: 'hi', timestamp: 1 } },
  { type: 'broadcast', data: { mid: 'm3', from: 'a', content: null, timestamp: 2 } },
  { type: 'ack', id: 'c1', data: { mid: 'm1', status: 'delivered', timestamp: 3 } },
  { type: 'pong', id: 'p', data: { timestamp: 4 } },
  { type: 'error', id: 'e', data: { code: 'BAD_REQUEST', message: 'nope' } },
  { type: 'status', data: { userId: 'a', status: 'busy', timestamp: 5, group: 'g' } },
  { type: 'presence', id: 'q', data: { users: { a: 'online', b: 'offline' } } },
  { type: 'receipt', data: { mid: 'm1', to: 'b', status: 'delivered', timestamp: 6 } },
  { type: 'sync', id: 's', data: { dropped: 0, count: 2, upTo: 9 } },
  { type: 'member', data: { group: 'g', userId: 'a', event: 'join', timestamp: 7 } },
  { type: 'kick', data: { connId: 'c1', code: 4008, reason: 'replaced by a newer connection' } },
  { type: 'control', data: { action: 'disconnect', users: ['u1', 'u2'], code: 4010, reason: 'banned' } },
  { type: 'control', data: { action: 'join', users: ['u1'], group: 'live:7' } },
  { type: 'group', data: { mid: 'm4', from: 'a', group: 'g', content: 'kept', timestamp: 8, offset: 12, epoch: 'e1', important: true, recovered: true } },
  { type: 'history', id: 'h', data: { group: 'g', epoch: 'e1', offset: 12, messages: [{ mid: 'm4', from: 'a', group: 'g', content: 'kept', timestamp: 8, offset: 12, epoch: 'e1' }] } },
];

t.test('encodeFrame round-trips every server frame in both formats', async (t) => {
  t.strictSame(new Set(SERVER_FRAMES.map((f) => f.type)), new Set(SERVER_FRAME_TYPES), 'every server frame type is covered');
  for (const frame of SERVER_FRAMES) {
    const json = encodeFrame(frame, 'json');
    t.equal(json.binary, false);
    t.strictSame(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json.bytes)), frame, `json ${frame.type}`);
    const packed = encodeFrame(frame, 'msgpack');
    t.equal(packed.binary, true);
    t.strictSame(decodeServerFrame(packed.bytes), frame, `msgpack ${frame.type}`);
  }
});

t.test('encoding leaves out undefined properties and emits no extensions', async (t) => {
  const frame = { type: 'ack', id: undefined, data: { status: 'ok', timestamp: 1, mid: undefined, list: [undefined, 1] } } as unknown as ServerFrame;
  t.equal(toHex(encodeFrame(frame, 'msgpack').bytes), toHex(mp({ type: 'ack', data: { status: 'ok', timestamp: 1, list: [null, 1] } })),
    'same bytes as the frame without them; undefined in an array is nil');
  t.equal(Buffer.from(encodeFrame(frame, 'json').bytes).toString(), '{"type":"ack","data":{"status":"ok","timestamp":1,"list":[null,1]}}');
  t.equal(toHex(encodeMsgpack({ a: 'b' })), '81a161a162', 'minimal fixmap header, no record extension');
});

t.test('EncodedFrame encodes each format at most once', async (t) => {
  // JSON.stringify and msgpackr both serialize an object through its toJSON, so counting
  // toJSON calls counts encodings without any spy.
  let encodings = 0;
  class Counted {
    toJSON(): unknown {
      encodings++;
      return { n: 1 };
    }
  }
  const frame: ServerFrame = { type: 'broadcast', data: { mid: 'm', from: 'a', content: new Counted(), timestamp: 1 } };
  const encoded = new EncodedFrame(frame);
  t.equal(encoded.frame, frame);
  t.equal(encodings, 0, 'lazy: nothing encoded before get');
  const json = encoded.get('json');
  t.equal(encodings, 1);
  t.equal(encoded.get('json'), json, 'same Encoded object');
  t.equal(encodings, 1, 'json not encoded again');
  const packed = encoded.get('msgpack');
  t.equal(encodings, 2);
  for (let i = 0; i < 3; i++) {
    t.equal(encoded.get('msgpack'), packed);
    t.equal(encoded.get('json'), json);
  }
  t.equal(encodings, 2, 'each format encoded exactly once');
  t.strictSame(decodeServerFrame(packed.bytes), { ...frame, data: { ...frame.data, content: { n: 1 } } });
  t.equal(json.binary, false);
  t.equal(packed.binary, true);
});

t.test('EncodedFrame.fromMsgpack keeps the received bytes', async (t) => {
  const bytes = encodeFrame(SERVER_FRAMES[0], 'msgpack').bytes;
  const encoded = EncodedFrame.fromMsgpack(bytes);
  t.equal(encoded.get('msgpack').bytes, bytes, 'msgpack encoding is the received buffer');
  t.strictSame(encoded.frame, SERVER_FRAMES[0]);
  t.strictSame(JSON.parse(Buffer.from(encoded.get('json').bytes).toString()), SERVER_FRAMES[0]);
  t.throws(() => EncodedFrame.fromMsgpack(hex('c1')), { code: 'BAD_REQUEST' });
});

t.test('errorFrame', async (t) => {
  const err = new GatewayError('RATE_LIMITED', 'slow down', { retryAfterMs: 20 });
  t.strictSame(errorFrame(err, 'c9'), { type: 'error', id: 'c9', data: { code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 20 } });
  t.strictSame(errorFrame(new GatewayError('BAD_REQUEST')), { type: 'error', data: { code: 'BAD_REQUEST', message: 'malformed or invalid frame' } });
  t.notOk('id' in errorFrame(err), 'no id key when none given');
});

t.test('decodeServerFrame rejects garbage with BAD_REQUEST', async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /empty frame/],
    ['truncated', encodeFrame(SERVER_FRAMES[1], 'msgpack').bytes.subarray(0, 10), /truncated/],
    ['not a map', mp([1, 2]), /expected a map/],
    ['client type', mp({ type: 'join', data: {} }), /unknown type "join"/],
    ['no data', mp({ type: 'pong' }), /data must be a map/],
    ['array data', mp({ type: 'pong', data: [] }), /data must be a map/],
    ['numeric id', mp({ type: 'pong', id: 5, data: {} }), /id must be a string/],
    ['timestamp ext', hex('82 a4 74797065 a4 706f6e67 a4 64617461 d6 ff 00 00 00 00'), /ext type -1/],
    ['proto key', hex('82 a4 74797065 a4 706f6e67 a4 64617461 81 a9 5f5f70726f746f5f5f 80'), /__proto__/],
  ];
  for (const [name, bytes, message] of cases) {
    t.throws(() => decodeServerFrame(bytes), { name: 'GatewayError', code: 'BAD_REQUEST', message }, name);
  }
});

t.test('decodes a view into a larger buffer without reading outside it', async (t) => {
  for (const [inner, binary] of [[mp({ type: 'ping', id: 'v' }), true], [utf8('{"type":"ping","id":"v"}'), false]] as const) {
    const outer = new Uint8Array(inner.length + 64).fill(0xc1);
    outer.set(inner, 32);
    t.strictSame(decodeOk(outer.subarray(32, 32 + inner.length), binary), { type: 'ping', id: 'v' });
  }
});

t.test('a fault inside the codec is INTERNAL with its cause, never a throw', async (t) => {
  const boom = new Error('boom');
  const limits = {
    maxStringLength: 10, maxArrayLength: 10, maxUsersPerList: 10, maxIdLength: 10,
    get maxDepth(): number { throw boom; },
  };
  for (const binary of [true, false]) {
    const bytes = binary ? mp({ type: 'ping' }) : utf8('{"type":"ping"}');
    const result = decodeFrame(bytes, binary, limits);
    t.notOk(result.ok);
    if (!result.ok) {
      t.equal(result.error.code, 'INTERNAL');
      t.equal(result.error.cause, boom);
      t.notOk(JSON.stringify(errorFrame(result.error)).includes('boom'), 'the cause is not sent to the client');
    }
  }
});

t.test('Object.prototype is unchanged', async (t) => {
  t.strictSame(prototypeSnapshot(), protoBefore);
  t.equal(({} as Record<string, unknown>).x, undefined);
});
