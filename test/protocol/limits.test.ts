import t from 'tap';
import { DEFAULT_CODEC_LIMITS, decodeFrame, type CodecLimits } from '../../src/protocol/codec.js';
import { concat, decodeBad, decodeOk, mp, Raw, utf8 } from './fixtures.js';

const N = 100_000;

// {type:'broadcast', id:'d', data:{content: <n nested arrays>}}: the envelope is depth 1,
// data depth 2, so n nested arrays reach depth n + 2.
const jsonNested = (n: number) => utf8(`{"type":"broadcast","id":"d","data":{"content":${'['.repeat(n)}${']'.repeat(n)}}}`);
const jsonNestedObjects = (n: number) => utf8(`{"type":"broadcast","id":"d","data":{"content":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}}`);
const mpNested = (n: number) => mp({ type: 'broadcast', id: 'd', data: { content: new Raw(concat(new Array(n - 1).fill(0x91), [0x90])) } });
const mpNestedMaps = (n: number) => mp({
  type: 'broadcast', id: 'd', data: { content: new Raw(concat(...new Array(n).fill([0x81, 0xa1, 0x61]), [0x01])) },
});

t.test('depth 32 passes, depth 33 is BAD_REQUEST', async (t) => {
  t.equal(DEFAULT_CODEC_LIMITS.maxDepth, 32);
  for (const [name, build, binary] of [
    ['json arrays', jsonNested, false], ['json objects', jsonNestedObjects, false],
    ['msgpack arrays', mpNested, true], ['msgpack maps', mpNestedMaps, true],
  ] as const) {
    const ok = decodeOk(build(30), binary);
    t.equal(ok.type, 'broadcast', `${name}: depth 32 accepted`);
    const bad = decodeBad(build(31), binary);
    t.equal(bad.error.code, 'BAD_REQUEST');
    t.match(bad.error.message, /nesting deeper than 32 levels/, `${name}: depth 33 rejected`);
    t.equal(bad.id, 'd', `${name}: id echoed`);
  }
  const flat = decodeBad(utf8(`${'['.repeat(33)}${']'.repeat(33)}`), false);
  t.match(flat.error.message, /^frame(\[0\]){32}: nesting deeper than 32 levels$/, 'the path names the offending element');
});

t.test(`${N} levels of nesting neither overflows the stack nor is accepted`, async (t) => {
  const cases: [string, Uint8Array, boolean][] = [
    ['json arrays at the root', utf8('['.repeat(N) + ']'.repeat(N)), false],
    ['json objects at the root', utf8('{"a":'.repeat(N) + 'null' + '}'.repeat(N)), false],
    ['json arrays in content', jsonNested(N), false],
    ['msgpack arrays at the root', concat(new Array(N).fill(0x91), [0xc0]), true],
    ['msgpack maps at the root', concat(...new Array(N).fill([0x81, 0xa1, 0x61]), [0xc0]), true],
    ['msgpack arrays in content', mpNested(N), true],
  ];
  for (const [name, bytes, binary] of cases) {
    const started = performance.now();
    const bad = decodeBad(bytes, binary);
    t.equal(bad.error.code, 'BAD_REQUEST', name);
    t.match(bad.error.message, /nesting deeper than 32 levels/, name);
    t.ok(performance.now() - started < 2000, `${name}: fast`);
  }
});

t.test('string and array limits', async (t) => {
  const content = (value: unknown) => utf8(JSON.stringify({ type: 'broadcast', id: 'l', data: { content: value } }));
  const mpContent = (value: unknown) => mp({ type: 'broadcast', id: 'l', data: { content: value } });
  for (const [format, build, binary] of [['json', content, false], ['msgpack', mpContent, true]] as const) {
    t.ok(decodeFrame(build('s'.repeat(65536)), binary).ok, `${format}: string of 65536 accepted`);
    const long = decodeBad(build({ k: 's'.repeat(65537) }), binary);
    t.equal(long.error.message, 'data.content.k: string longer than 65536 characters', `${format}: string of 65537`);
    t.equal(long.id, 'l');
    const longKey = decodeBad(build({ ['k'.repeat(65537)]: 1 }), binary);
    t.equal(longKey.error.message, 'data.content: key longer than 65536 characters', `${format}: key of 65537`);
    t.ok(decodeFrame(build(new Array(10000).fill(0)), binary).ok, `${format}: array of 10000 accepted`);
    const arr = decodeBad(build([[new Array(10001).fill(0)]]), binary);
    t.match(arr.error.message, /(data\.content\[0\]\[0\]: array longer than 10000 elements|array of 10001 elements at byte \d+ is longer than 10000)$/, `${format}: array of 10001`);
    t.equal(arr.id, 'l');
  }
  // A string limit counts characters, not bytes: 65536 three-byte characters pass.
  t.ok(decodeFrame(mpContent('€'.repeat(65536)), true).ok, 'multi-byte characters count once');
});

t.test('custom limits', async (t) => {
  // 9 characters: 'broadcast' itself is a string the limit applies to.
  const limits: CodecLimits = { maxDepth: 3, maxStringLength: 9, maxArrayLength: 3, maxUsersPerList: 2, maxIdLength: 3 };
  const frame = (value: unknown) => utf8(JSON.stringify(value));
  const bad = (value: unknown, message: RegExp, binary = false) => {
    const bytes = binary ? mp(value) : frame(value);
    const result = decodeFrame(bytes, binary, limits);
    t.notOk(result.ok, String(message));
    if (!result.ok) t.match(result.error.message, message);
  };
  t.ok(decodeFrame(frame({ type: 'broadcast', id: 'abc', data: { content: ['abcdefghi', 5, 6] } }), false, limits).ok, 'at every limit');
  t.ok(decodeFrame(mp({ type: 'broadcast', id: 'abc', data: { content: ['abcdefghi', 5, 6] } }), true, limits).ok, 'at every limit (msgpack)');
  bad({ type: 'broadcast', data: { content: [[]] } }, /^data\.content\[0\]: nesting deeper than 3 levels$/);
  bad({ type: 'broadcast', data: { content: [[]] } }, /^invalid MessagePack: nesting deeper than 3 levels at byte \d+$/, true);
  bad({ type: 'broadcast', data: { content: 'abcdefghij' } }, /^data\.content: string longer than 9 characters$/);
  bad({ type: 'broadcast', data: { content: [1, 2, 3, 4] } }, /^data\.content: array longer than 3 elements$/);
  bad({ type: 'broadcast', data: { content: [1, 2, 3, 4] } }, /array of 4 elements/, true);
  bad({ type: 'watch', data: { users: ['a', 'b', 'c'] } }, /^data\.users: expected an array of 1-2 user ids$/);
  bad({ type: 'ping', id: 'abcd' }, /^id: expected a string of 1-3 characters$/);
  const tooLongId = decodeFrame(frame({ type: 'broadcast', id: 'abcd', data: { content: 'abcdefghij' } }), false, limits);
  t.equal(!tooLongId.ok && tooLongId.id, undefined, 'an id over the limit is not echoed');
});

t.test('user id and group name alphabet', async (t) => {
  const join = (group: string) => decodeFrame(utf8(JSON.stringify({ type: 'join', data: { group } })), false);
  for (const good of ['a', 'A-z_0.9:x@y', 'Ωμέγα', '東京', '٣', 'x'.repeat(128), '𝒜'.repeat(128)]) {
    t.ok(join(good).ok, `accepts ${good.slice(0, 12)}`);
  }
  for (const bad of ['', 'a b', 'a*', '*', 'a/b', 'a\tb', 'a\u0000', 'a\u200bb', 'x'.repeat(129), '𝒜'.repeat(129), 'e\u0301', '#g']) {
    t.notOk(join(bad).ok, `rejects ${JSON.stringify(bad.slice(0, 12))}`);
  }
});
