import t from 'tap';
import { decodeFrame } from '../../src/protocol/codec.js';
import { concat, decodeBad, hex, mp, prototypeSnapshot, Raw, utf8 } from './fixtures.js';

const protoBefore = prototypeSnapshot();

/** The assertions `check` uses, common to the root and every subtest. */
type Tap = Pick<typeof t, 'equal' | 'match'>;

type Case = [name: string, bytes: Uint8Array, message: RegExp, id?: string];

function check(t: Tap, cases: Case[], binary: boolean): void {
  for (const [name, bytes, message, id] of cases) {
    const result = decodeBad(bytes, binary);
    t.equal(result.error.code, 'BAD_REQUEST', `${name}: code`);
    t.match(result.error.message, message, `${name}: message`);
    t.equal(result.id, id, `${name}: echoed id`);
  }
}

// JSON frames built around one bad piece, with an id so the echo is checked too.
const msg = (data: string) => utf8(`{"type":"message","id":"r1","data":${data}}`);
const frame = (type: string, data: string) => utf8(`{"id":"r1","type":"${type}","data":${data}}`);

t.test('JSON: bytes and syntax', async (t) => {
  check(t, [
    ['invalid UTF-8 (lone continuation byte)', hex('7b 22 74 79 70 65 22 3a 80 7d'), /^frame is not valid UTF-8 text$/],
    ['invalid UTF-8 (overlong "/" in a string)', concat(utf8('{"type":"ping","id":"'), hex('c0 af'), utf8('"}')), /not valid UTF-8/],
    ['invalid UTF-8 (encoded surrogate)', concat(utf8('{"type":"ping","id":"'), hex('ed a0 80'), utf8('"}')), /not valid UTF-8/],
    ['empty', new Uint8Array(0), /^invalid JSON/],
    ['truncated', utf8('{"type":"ping"'), /^invalid JSON/],
    ['single quotes', utf8("{'type':'ping'}"), /^invalid JSON/],
    ['trailing garbage', utf8('{"type":"ping"} x'), /^invalid JSON/],
    ['two values', utf8('{"type":"ping"}{"type":"ping"}'), /^invalid JSON/],
  ], false);
});

t.test('JSON: envelope', async (t) => {
  check(t, [
    ['number', utf8('42'), /^frame: expected an object \{type, id\?, data\?\}, got a number$/],
    ['string', utf8('"ping"'), /got a string$/],
    ['null', utf8('null'), /got null$/],
    ['array', utf8('[{"type":"ping"}]'), /got an array$/],
    ['missing type', utf8('{"id":"r1"}'), /^type: expected a string, one of message, join, leave, group, broadcast, ping, status, watch, unwatch, presence, ack, sync, history, refresh$/, 'r1'],
    ['numeric type', utf8('{"type":5,"id":"r1"}'), /^type: expected a string/, 'r1'],
    ['unknown type', utf8('{"type":"x","id":"r1"}'), /^unknown type 'x'$/, 'r1'],
    ['server-only type', utf8('{"type":"pong","id":"r1"}'), /^unknown type 'pong'$/, 'r1'],
    ['long unknown type is cut', utf8(`{"type":"${'y'.repeat(5000)}"}`), /^unknown type 'y{40}…'$/],
    ['empty id', utf8('{"type":"ping","id":""}'), /^id: expected a string of 1-64 characters$/],
    ['id too long', utf8(`{"type":"ping","id":"${'i'.repeat(65)}"}`), /^id: expected a string of 1-64 characters$/],
    ['numeric id', utf8('{"type":"ping","id":7}'), /^id: expected a string/],
    ['null id', utf8('{"type":"ping","id":null}'), /^id: expected a string/],
    ['data missing', utf8('{"type":"join","id":"r1"}'), /^data: required for type 'join'$/, 'r1'],
    ['data array', frame('join', '["g"]'), /^data: expected an object, got an array$/, 'r1'],
    ['data string', frame('ping', '"x"'), /^data: expected an object, got a string$/, 'r1'],
  ], false);
});

const USER = /: expected a user id \(1-128 chars of letters, digits, _-\.:@\)$/;
const GROUP = /: expected a group name \(1-128 chars of letters, digits, _-\.:@\)$/;

t.test('JSON: fields of each type', async (t) => {
  check(t, [
    ['message: to missing', msg('{"content":1}'), /^data\.to: expected a user id/, 'r1'],
    ['message: to with space', msg('{"to":"a b","content":1}'), USER, 'r1'],
    ['message: to with *', msg('{"to":"*","content":1}'), USER, 'r1'],
    ['message: to with control char', msg('{"to":"a\\u0000","content":1}'), USER, 'r1'],
    ['message: to with newline', msg('{"to":"a\\n","content":1}'), USER, 'r1'],
    ['message: to empty', msg('{"to":"","content":1}'), USER, 'r1'],
    ['message: to 129 chars', msg(`{"to":"${'a'.repeat(129)}","content":1}`), USER, 'r1'],
    ['message: to number', msg('{"to":5,"content":1}'), USER, 'r1'],
    ['message: content missing', msg('{"to":"bob"}'), /^data\.content: required/, 'r1'],
    ['message: from invalid', msg('{"to":"bob","content":1,"from":"a/b"}'), /^data\.from: expected a user id/, 'r1'],
    ['join: group missing', frame('join', '{}'), /^data\.group: expected a group name/, 'r1'],
    ['join: group with space', frame('join', '{"group":"a b"}'), GROUP, 'r1'],
    ['leave: group number', frame('leave', '{"group":1}'), GROUP, 'r1'],
    ['group: content missing', frame('group', '{"group":"g"}'), /^data\.content: required/, 'r1'],
    ['group: group invalid', frame('group', '{"group":"g*","content":1}'), GROUP, 'r1'],
    ['broadcast: content missing', frame('broadcast', '{}'), /^data\.content: required/, 'r1'],
    ['status: offline is not settable', frame('status', '{"status":"offline"}'), /^data\.status: expected one of online, away, busy, invisible$/, 'r1'],
    ['status: missing', frame('status', '{}'), /^data\.status: expected one of/, 'r1'],
    ['watch: users missing', frame('watch', '{}'), /^data\.users: expected an array of 1-1000 user ids$/, 'r1'],
    ['watch: users empty', frame('watch', '{"users":[]}'), /^data\.users: expected an array of 1-1000 user ids$/, 'r1'],
    ['watch: users string', frame('watch', '{"users":"a"}'), /^data\.users: expected an array/, 'r1'],
    ['watch: bad element', frame('watch', '{"users":["a","b c"]}'), /^data\.users\[1\]: expected a user id/, 'r1'],
    ['watch: 1001 users', frame('watch', `{"users":${JSON.stringify(Array.from({ length: 1001 }, (_, i) => `u${i}`))}}`), /^data\.users: expected an array of 1-1000/, 'r1'],
    ['unwatch: null element', frame('unwatch', '{"users":[null]}'), /^data\.users\[0\]: expected a user id/, 'r1'],
    ['presence: both', frame('presence', '{"users":["a"],"group":"g"}'), /^data: expected exactly one of users \(an array of user ids\) or group$/, 'r1'],
    ['presence: neither', frame('presence', '{}'), /^data: expected exactly one of users/, 'r1'],
    ['presence: bad group', frame('presence', '{"group":""}'), GROUP, 'r1'],
    ['ack: negative', frame('ack', '{"upTo":-1}'), /^data\.upTo: expected an integer from 0 to 9007199254740991$/, 'r1'],
    ['ack: fraction', frame('ack', '{"upTo":1.5}'), /^data\.upTo: expected an integer/, 'r1'],
    ['ack: string', frame('ack', '{"upTo":"5"}'), /^data\.upTo: expected an integer/, 'r1'],
    ['ack: 2^53', frame('ack', '{"upTo":9007199254740992}'), /^data\.upTo: expected an integer/, 'r1'],
    ['ack: missing', frame('ack', '{}'), /^data\.upTo: expected an integer/, 'r1'],
    ['sync: missing', frame('sync', '{}'), /^data\.after: expected an integer/, 'r1'],
    ['sync: null', frame('sync', '{"after":null}'), /^data\.after: expected an integer/, 'r1'],
    ['join: since not an object', frame('join', '{"group":"g","since":5}'), /^data\.since: expected an object \{offset, epoch\}, got a number$/, 'r1'],
    ['join: since.offset negative', frame('join', '{"group":"g","since":{"offset":-1,"epoch":"e"}}'), /^data\.since\.offset: expected an integer from 0/, 'r1'],
    ['join: since.offset missing', frame('join', '{"group":"g","since":{"epoch":"e"}}'), /^data\.since\.offset: expected an integer/, 'r1'],
    ['join: since.epoch missing', frame('join', '{"group":"g","since":{"offset":3}}'), /^data\.since\.epoch: expected a string of 0-64 characters$/, 'r1'],
    ['join: since.epoch too long', frame('join', `{"group":"g","since":{"offset":3,"epoch":"${'e'.repeat(65)}"}}`), /^data\.since\.epoch: expected a string/, 'r1'],
    ['group: important not a boolean', frame('group', '{"group":"g","content":1,"important":"yes"}'), /^data\.important: expected true or false, got a string$/, 'r1'],
    ['history: bad group', frame('history', '{}'), GROUP, 'r1'],
    ['history: limit 0', frame('history', '{"group":"g","limit":0}'), /^data\.limit: expected an integer from 1 to 100$/, 'r1'],
    ['history: limit 101', frame('history', '{"group":"g","limit":101}'), /^data\.limit: expected an integer from 1 to 100$/, 'r1'],
    ['history: before 0', frame('history', '{"group":"g","before":0}'), /^data\.before: expected an integer from 1 to/, 'r1'],
    ['history: before a string', frame('history', '{"group":"g","before":"9"}'), /^data\.before: expected an integer/, 'r1'],
  ], false);
});

t.test('JSON: values', async (t) => {
  check(t, [
    ['1e999 is Infinity', msg('{"to":"b","content":{"n":[1e999]}}'), /^data\.content\.n\[0\]: number must be finite, got Infinity$/, 'r1'],
    ['-1e999', frame('ack', '{"upTo":-1e999}'), /^data\.upTo: number must be finite/, 'r1'],
    ['lone surrogate', msg('{"to":"b","content":"\\ud800"}'), /^data\.content: string is not well-formed Unicode/, 'r1'],
    ['lone surrogate key', msg('{"to":"b","content":{"\\udc00":1}}'), /^data\.content: key is not well-formed Unicode/, 'r1'],
    ['__proto__ at top', utf8('{"type":"ping","id":"r1","__proto__":{"polluted":1}}'), /^frame: key '__proto__' is not allowed$/, 'r1'],
    ['__proto__ in data', frame('join', '{"group":"g","__proto__":{"polluted":1}}'), /^data: key '__proto__' is not allowed$/, 'r1'],
    ['__proto__ deep in content', msg('{"to":"b","content":[{"a":{"__proto__":{"polluted":1}}}]}'), /^data\.content\[0\]\.a: key '__proto__' is not allowed$/, 'r1'],
    ['constructor', msg('{"to":"b","content":{"constructor":{"prototype":{"polluted":1}}}}'), /^data\.content: key 'constructor' is not allowed$/, 'r1'],
    ['prototype', msg('{"to":"b","content":{"x y":{"prototype":1}}}'), /^data\.content\["x y"\]: key 'prototype' is not allowed$/, 'r1'],
  ], false);
  const ok = decodeFrame(msg('{"to":"b","content":{"__proto_":1,"proto":2,"Constructor":3}}'), false);
  t.ok(ok.ok, 'near-miss keys are ordinary keys');
});

// MessagePack: a valid message frame {type, id:'r1', data:{to:'bob', content:<x>}} with `x` spliced in raw.
const mpMsg = (content: Uint8Array) => mp({ type: 'message', id: 'r1', data: { to: 'bob', content: new Raw(content) } });

t.test('MessagePack: structure', async (t) => {
  const good = mpMsg(hex('a2 68 69'));
  t.ok(decodeFrame(good, true).ok, 'the base fixture is valid');
  check(t, [
    ['empty', new Uint8Array(0), /^invalid MessagePack: empty frame$/],
    ['trailing byte', concat(good, [0xc0]), /^invalid MessagePack: 1 trailing byte\(s\) after the value at byte \d+$/, 'r1'],
    ['two frames', concat(good, good), /trailing byte/, 'r1'],
    ['truncated float64', hex('cb 3f f0'), /^invalid MessagePack: truncated float64 at byte 1$/],
    ['truncated str header', hex('da 00'), /truncated str16 header/],
    ['truncated string', hex('a5 61 62'), /truncated string/],
    ['array32 promising 4G items', hex('dd ff ff ff ff c0'), /^invalid MessagePack: array of 4294967295 elements at byte 0 is longer than 10000$/],
    ['map32 promising 4G entries', hex('df ff ff ff ff c0'), /^invalid MessagePack: truncated map at byte 0$/],
    ['array16 short of items', hex('dc 00 03 c0 c0'), /truncated/],
    ['reserved 0xc1', mpMsg(hex('c1')), /^invalid MessagePack: reserved token 0xc1 at byte \d+$/, 'r1'],
    ['bin8', mpMsg(hex('c4 02 ab cd')), /^invalid MessagePack: bin value at byte \d+: binary data is not allowed/, 'r1'],
    ['bin16', mpMsg(hex('c5 00 01 ab')), /bin value/, 'r1'],
    ['bin32', mpMsg(hex('c6 00 00 00 01 ab')), /bin value/, 'r1'],
    ['bin as map key', hex('81 c4 01 61 c0'), /bin value at byte 1/],
    ['integer map key', mp({ type: 'ping', data: new Raw(hex('81 01 c0')) }), /map key at byte \d+ is not a string/],
    ['nil map key', hex('81 c0 c0'), /map key at byte 1 is not a string/],
    ['invalid UTF-8 string', mpMsg(hex('a2 c3 28')), /^invalid MessagePack: string at byte \d+ is not valid UTF-8$/, 'r1'],
    ['UTF-8 encoded surrogate', mpMsg(hex('a3 ed a0 80')), /not valid UTF-8/, 'r1'],
    ['invalid UTF-8 key', hex('81 a2 ff fe c0'), /not valid UTF-8/],
    ['root is an array', mp([{ type: 'ping' }]), /^frame: expected an object \{type, id\?, data\?\}, got an array$/],
    ['root is a string', hex('a4 70 69 6e 67'), /^frame: expected an object/],
    ['root is nil', hex('c0'), /got null$/],
  ], true);
});

t.test('MessagePack: every prefix of a valid frame is rejected, never thrown', async (t) => {
  const good = mpMsg(mp({ list: [1, 2.5, 'x'.repeat(40), null, -7, 70000] }));
  for (let n = 0; n < good.length; n++) {
    const result = decodeFrame(good.subarray(0, n), true);
    if (result.ok || result.error.code !== 'BAD_REQUEST') t.fail(`prefix of ${n} bytes was not BAD_REQUEST`);
  }
  t.ok(decodeFrame(good, true).ok, 'the whole frame is valid');
});

t.test('MessagePack: extension types are rejected', async (t) => {
  check(t, [
    ['undefined (fixext1 type 0)', mpMsg(hex('d4 00 00')), /^invalid MessagePack: ext type 0 \(undefined\) at byte \d+: extension types are not allowed$/, 'r1'],
    ['timestamp32 (fixext4 -1)', mpMsg(hex('d6 ff 00 00 00 00')), /ext type -1 \(timestamp\)/, 'r1'],
    ['timestamp64 (fixext8 -1)', mpMsg(hex('d7 ff 00 00 00 00 00 00 00 00')), /ext type -1 \(timestamp\)/, 'r1'],
    ['timestamp96 (ext8 -1)', mpMsg(hex('c7 0c ff 00 00 00 00 00 00 00 00 00 00 00 00')), /ext type -1 \(timestamp\)/, 'r1'],
    ['record definition (fixext1 0x72)', mpMsg(hex('d4 72 40 92 a1 61 a1 62 01 02')), /ext type 114 \(record\)/, 'r1'],
    ['record definition (fixext2 0x72)', mpMsg(hex('d5 72 40 00 91 a1 61 01')), /ext type 114 \(record\)/, 'r1'],
    ['set (0x73)', mpMsg(hex('d4 73 00 91 01')), /ext type 115 \(set\)/, 'r1'],
    ['structured-clone pointer (0x70)', mpMsg(hex('d6 70 00 00 00 01')), /ext type 112 \(structured-clone pointer\)/, 'r1'],
    ['structured-clone id (0x69)', mpMsg(hex('d6 69 00 00 00 01 80')), /ext type 105 \(structured-clone id\)/, 'r1'],
    ['error (0x65)', mpMsg(hex('d4 65 00 92 a5 45 72 72 6f 72 a1 78')), /ext type 101 \(error\)/, 'r1'],
    ['regexp (0x78)', mpMsg(hex('d4 78 00 92 a1 61 a1 67')), /ext type 120 \(regexp\)/, 'r1'],
    ['typed array (0x74)', mpMsg(hex('c7 05 74 01 00 00 00 00')), /ext type 116 \(typed array\)/, 'r1'],
    ['bundled strings (0x62)', mpMsg(hex('d6 62 00 00 00 00')), /ext type 98 \(bundled strings\)/, 'r1'],
    ['bigint (0x42)', mpMsg(hex('d4 42 01')), /ext type 66 \(bigint\)/, 'r1'],
    ['unregistered type 5 (ext32)', mpMsg(hex('c9 00 00 00 01 05 00')), /ext type 5 at byte/, 'r1'],
    ['truncated ext header', hex('c8 00'), /truncated ext header/],
    ['ext at the root', hex('d6 ff 00 00 00 00'), /ext type -1/],
  ], true);
});

t.test('MessagePack: values', async (t) => {
  check(t, [
    ['float64 NaN', mpMsg(hex('cb 7f f8 00 00 00 00 00 00')), /^data\.content: number must be finite, got NaN$/, 'r1'],
    ['float64 +Infinity', mpMsg(hex('cb 7f f0 00 00 00 00 00 00')), /got Infinity$/, 'r1'],
    ['float64 -Infinity', mpMsg(hex('cb ff f0 00 00 00 00 00 00')), /got -Infinity$/, 'r1'],
    ['float32 NaN', mpMsg(hex('ca 7f c0 00 00')), /got NaN$/, 'r1'],
    ['int64 string as ack.upTo', mp({ type: 'ack', id: 'r1', data: { upTo: new Raw(hex('d3 7f ff ff ff ff ff ff ff')) } }), /^data\.upTo: expected an integer/, 'r1'],
    ['__proto__ key', mpMsg(hex('81 a9 5f5f70726f746f5f5f 81 a8 706f6c6c75746564 01')), /^invalid MessagePack: map key '__proto__' at byte \d+ is not allowed$/, 'r1'],
    ['__proto__ key as str8', mpMsg(hex('81 d9 09 5f5f70726f746f5f5f 01')), /map key '__proto__'/, 'r1'],
    ['__proto__ at the root', hex('82 a4 74797065 a4 70696e67 a9 5f5f70726f746f5f5f 81 a1 78 01'), /map key '__proto__'/],
    ['constructor key', mpMsg(mp({ constructor: { prototype: { polluted: 1 } } })), /^data\.content: key 'constructor' is not allowed$/, 'r1'],
    ['prototype key', mpMsg(mp({ a: [{ prototype: 1 }] })), /^data\.content\.a\[0\]: key 'prototype' is not allowed$/, 'r1'],
    ['id echoed only when valid', mp({ type: 'message', id: 'x'.repeat(65), data: { to: 'bob', content: new Raw(hex('c1')) } }), /reserved token/],
  ], true);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing polluted');
});

t.test('Object.prototype is unchanged after all of it', async (t) => {
  t.strictSame(prototypeSnapshot(), protoBefore);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  t.equal(Object.getPrototypeOf({}), Object.prototype);
});
