import { createHmac } from 'node:crypto';
import t from 'tap';
import { HmacKey } from '../../src/core/hmac.js';

// RFC 4231, test case 1: key 0x0b x 20, data "Hi There".
t.test('gives the RFC 4231 test vector', async (t) => {
  const key = new HmacKey('sha256', Buffer.alloc(20, 0x0b));
  t.equal(key.mac('Hi There').toString('hex'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
});

const keyLengths = [0, 1, 20, 63, 64, 65, 127, 128, 129, 300];
const messages = ['', 'a', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9', 'é ✓ 😀 mixed', 'x'.repeat(5461), 'y'.repeat(5462), 'z'.repeat(40_000), '€'.repeat(6000)];

for (const algorithm of ['sha256', 'sha384', 'sha512']) {
  for (const path of ['one-shot', 'createHmac fallback'] as const) {
    t.test(`${algorithm}, ${path}: the same bytes as createHmac for every key and message length`, async (t) => {
      let checked = 0;
      for (const length of keyLengths) {
        const secret = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) & 0xff));
        const key = path === 'one-shot' ? new HmacKey(algorithm, secret) : new HmacKey(algorithm, secret, null);
        for (const message of messages) {
          const want = createHmac(algorithm, secret).update(message, 'utf8').digest('hex');
          // Twice: the second call reuses the buffers the first one wrote.
          t.equal(key.mac(message).toString('hex'), want, `key ${length} B, message ${message.length} chars`);
          t.equal(key.mac(message).toString('hex'), want);
          checked += 1;
        }
      }
      t.equal(checked, keyLengths.length * messages.length);
    });
  }
}

t.test('a MAC is a fresh buffer: later calls do not change an earlier result', async (t) => {
  const key = new HmacKey('sha256', Buffer.from('secret'));
  const first = key.mac('one');
  const copy = Buffer.from(first);
  key.mac('two');
  t.same(first, copy);
});

t.test('refuses a hash it does not know', async (t) => {
  t.throws(() => new HmacKey('md5', Buffer.from('k')), /unsupported hash md5/);
});
