import t from 'tap';
import { pack } from 'msgpackr';
import { startGateway } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** [name, bytes, binary] — each must be answered with BAD_REQUEST. */
const CASES: [string, Buffer | string, boolean][] = [
  ['invalid JSON', '{"type":"ping"', false],
  ['invalid UTF-8 inside a MessagePack string', Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa2, 0xff, 0xfe]), true],
  ['invalid MessagePack', Buffer.from([0xc1]), true],
  ['truncated MessagePack', Buffer.from([0x82, 0xa4, 0x74, 0x79]), true],
  ['JSON array envelope', '[1,2,3]', false],
  ['unknown type', JSON.stringify({ type: 'teleport', data: {} }), false],
  ['missing type', JSON.stringify({ data: {} }), false],
  ['message without to', JSON.stringify({ type: 'message', data: { content: 'x' } }), false],
  ['message with numeric to', JSON.stringify({ type: 'message', data: { to: 5, content: 'x' } }), false],
  ['join with empty group', JSON.stringify({ type: 'join', data: { group: '' } }), false],
  ['id too long', JSON.stringify({ type: 'ping', id: 'x'.repeat(65) }), false],
  ['nesting deeper than 32', JSON.stringify({ type: 'message', data: { to: 'b', content: nested(40) } }), false],
  ['__proto__ key', '{"type":"message","data":{"to":"b","content":{"__proto__":{"polluted":true}}}}', false],
  ['constructor key', JSON.stringify({ type: 'message', data: { to: 'b', content: { constructor: { prototype: { polluted: true } } } } }), false],
  ['__proto__ key in MessagePack', Buffer.concat([
    Buffer.from([0x82, 0xa4]), Buffer.from('type'), Buffer.from([0xa7]), Buffer.from('message'),
    Buffer.from([0xa4]), Buffer.from('data'), Buffer.from([0x82, 0xa2]), Buffer.from('to'), Buffer.from([0xa1]), Buffer.from('b'),
    Buffer.from([0xa7]), Buffer.from('content'), Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x81, 0xa8]), Buffer.from('polluted'), Buffer.from([0xc3]),
  ]), true],
  ['MessagePack timestamp extension', pack({ type: 'message', data: { to: 'b', content: new Date() } }), true],
  ['ack with negative upTo', JSON.stringify({ type: 'ack', data: { upTo: -1 } }), false],
  ['watch list too long', JSON.stringify({ type: 'watch', data: { users: Array.from({ length: 2000 }, (_, i) => `u${i}`) } }), false],
];

t.test('every malformed frame gets BAD_REQUEST and the connection stays usable', async (t) => {
  const { url } = await startGateway(t);
  const chunk = 5; // below the malformed-frame tolerance, so each connection survives its chunk
  for (let start = 0; start < CASES.length; start += chunk) {
    const c = await TestClient.connect(url, { token: await token({ sub: `m${start}` }), format: start % 2 ? 'json' : 'msgpack' });
    for (const [name, bytes, binary] of CASES.slice(start, start + chunk)) {
      c.sendRaw(bytes, binary);
      const err = await c.next((f) => f.type === 'error');
      t.equal(err.data.code, 'BAD_REQUEST', `${name}: BAD_REQUEST`);
      t.type(err.data.message, 'string');
      t.equal((await c.request({ type: 'ping' })).type, 'pong', `${name}: connection still works`);
    }
    await c.close();
  }
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype unchanged');
  t.equal(Object.getOwnPropertyNames(Object.prototype).includes('polluted'), false);
});

t.test('the error echoes the frame id when it could be read', async (t) => {
  const { url } = await startGateway(t);
  const c = await TestClient.connect(url, { token: await token({ sub: 'e' }) });
  c.sendRaw(JSON.stringify({ type: 'message', id: 'corr-7', data: { to: '' } }), false);
  const err = await c.next((f) => f.type === 'error');
  t.equal(err.id, 'corr-7');
  t.equal(err.data.code, 'BAD_REQUEST');
  t.match(err.data.message, /to/);
  await c.close();
});

t.test('a client that keeps sending garbage is closed with 1008', async (t) => {
  const { url } = await startGateway(t);
  const c = await TestClient.connect(url, { token: await token({ sub: 'garbage' }) });
  for (let i = 0; i < 30; i++) c.sendRaw('not json', false);
  t.equal((await c.closed).code, 1008);
});

t.test('a text frame that is not UTF-8 fails the connection (RFC 6455), others are unaffected', async (t) => {
  const { url, gateway } = await startGateway(t);
  const bad = await TestClient.connect(url, { token: await token({ sub: 'utf' }) });
  const good = await TestClient.connect(url, { token: await token({ sub: 'utf2' }) });
  bad.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false);
  // uWS drops the connection without a close frame: the client sees 1006.
  t.equal((await bad.closed).code, 1006);
  t.equal((await good.request({ type: 'ping' })).type, 'pong');
  t.equal(gateway.hub.userConnectionCount('utf'), 0);
  await good.close();
});

t.test('frames over MaxMessageBytes are refused by uWS, smaller ones pass', async (t) => {
  const { url, gateway } = await startGateway(t, { Limits: { MaxMessageBytes: 1024, MaxBackpressure: 65536 } });
  const c = await TestClient.connect(url, { token: await token({ sub: 'big' }) });
  t.equal((await c.request({ type: 'message', data: { to: 'x', content: 'y'.repeat(900) } })).type, 'ack');
  c.send({ type: 'message', data: { to: 'x', content: 'y'.repeat(2000) } });
  // uWS drops the connection without a close frame: the client sees 1006.
  t.equal((await c.closed).code, 1006);
  t.equal(gateway.hub.userConnectionCount('big'), 0, 'removed from the hub');
  const again = await TestClient.connect(url, { token: await token({ sub: 'big' }) });
  t.equal((await again.request({ type: 'ping' })).type, 'pong', 'the gateway keeps serving');
  await again.close();
});
