import t from 'tap';
import { decodeFrame } from '../../src/protocol/codec.js';
import { decodeBad, decodeOk, hex, utf8 } from './fixtures.js';

// {type:"refresh", id:"r1", data:{token:"a.b.c"}} written out from the MessagePack spec.
const REFRESH = hex(`
  83                            # map of 3
  a4 74797065                   # "type"
  a7 72656672657368             # "refresh"
  a2 6964  a2 7231              # "id": "r1"
  a4 64617461                   # "data"
  81 a5 746f6b656e              # {"token":
  a5 612e622e63                 #   "a.b.c"}
`);

t.test('refresh decodes from MessagePack bytes and from JSON', async (t) => {
  t.strictSame(decodeOk(REFRESH, true), { type: 'refresh', id: 'r1', data: { token: 'a.b.c' } });
  t.strictSame(decodeOk(utf8('{"type":"refresh","data":{"token":"a.b.c","extra":1}}'), false), { type: 'refresh', data: { token: 'a.b.c' } },
    'unknown data keys are dropped; id is optional');
});

t.test('every truncated prefix of the refresh bytes is BAD_REQUEST, never a throw', async (t) => {
  for (let n = 0; n < REFRESH.length; n++) {
    const result = decodeFrame(REFRESH.subarray(0, n), true);
    if (result.ok || result.error.code !== 'BAD_REQUEST') t.fail(`prefix of ${n} bytes was not BAD_REQUEST`);
  }
  t.pass(`${REFRESH.length} prefixes rejected`);
});

t.test('refresh without a usable token is BAD_REQUEST naming data.token, echoing the id', async (t) => {
  for (const data of ['{}', '{"token":""}', '{"token":42}', '{"token":null}']) {
    const { error, id } = decodeBad(utf8(`{"type":"refresh","id":"x","data":${data}}`), false);
    t.equal(error.code, 'BAD_REQUEST');
    t.equal(error.message, 'data.token: expected a non-empty string (a JWT)', data);
    t.equal(id, 'x');
  }
  t.equal(decodeBad(utf8('{"type":"refresh"}'), false).error.message, "data: required for type 'refresh'");
});
