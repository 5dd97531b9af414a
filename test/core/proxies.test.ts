import t from 'tap';
import { isAddressOrCidr, normalizeAddress, TrustedProxies } from '../../src/core/proxies.js';

t.test('untrusted peers: forwarding headers are ignored', async (t) => {
  const none = new TrustedProxies([]);
  t.equal(none.clientAddress('203.0.113.9', '1.2.3.4', '5.6.7.8'), '203.0.113.9');
  const some = new TrustedProxies(['10.0.0.0/8']);
  t.equal(some.clientAddress('192.0.2.1', '1.2.3.4', ''), '192.0.2.1', 'a client cannot claim another address');
});

t.test('trusted peer: the right-most untrusted X-Forwarded-For entry is the client', async (t) => {
  const p = new TrustedProxies(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
  t.equal(p.clientAddress('127.0.0.1', '198.51.100.7', ''), '198.51.100.7');
  t.equal(p.clientAddress('127.0.0.1', '6.6.6.6, 198.51.100.7', ''), '198.51.100.7', 'a spoofed left entry is ignored');
  t.equal(p.clientAddress('127.0.0.1', '198.51.100.7, 10.1.2.3', ''), '198.51.100.7', 'trusted hops are skipped');
  t.equal(p.clientAddress('127.0.0.1', '10.9.9.9, 10.1.2.3', ''), '10.9.9.9', 'all trusted: the left-most');
  t.equal(p.clientAddress('127.0.0.1', 'garbage, 10.1.2.3', ''), '10.1.2.3', 'garbage stops at the last good hop');
  t.equal(p.clientAddress('127.0.0.1', '198.51.100.7:51000', ''), '198.51.100.7', 'a port is dropped');
  t.equal(p.clientAddress('127.0.0.1', '[2001:db8::1]:443', ''), '2001:db8::1');
  t.equal(p.clientAddress('127.0.0.1', '', '198.51.100.8'), '198.51.100.8', 'X-Real-IP when there is no X-Forwarded-For');
  t.equal(p.clientAddress('127.0.0.1', '', 'nonsense'), '127.0.0.1', 'an invalid X-Real-IP falls back to the peer');
  t.equal(p.clientAddress('fd00::5', '2001:DB8:0:0:0:0:0:2', ''), '2001:db8::2', 'IPv6 proxy and client, canonical form');
});

t.test('addresses have one spelling: IPv4-mapped IPv6 is IPv4, IPv6 is compressed', async (t) => {
  t.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(normalizeAddress('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
  t.equal(normalizeAddress('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  t.equal(normalizeAddress('[::1]'), '::1');
  const p = new TrustedProxies(['127.0.0.1']);
  t.ok(p.trusts('::ffff:127.0.0.1'), 'a mapped peer matches an IPv4 entry');
});

t.test('config entries: addresses and CIDR blocks of both families', async (t) => {
  for (const good of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '2001:db8::/32', '::/0']) t.ok(isAddressOrCidr(good), good);
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'host.example', '10.0.0.0/8/1', '10.0.0.256', '', '10.0.0.0/x']) t.notOk(isAddressOrCidr(bad), bad);
});
