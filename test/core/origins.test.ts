import t from 'tap';
import { OriginPolicy, parseOriginRule } from '../../src/core/origins.js';

t.test('an empty list allows every origin; no Origin header is always allowed', async (t) => {
  const any = new OriginPolicy([]);
  t.ok(any.open);
  t.ok(any.allows('https://whatever.test'));
  t.ok(new OriginPolicy(['https://a.test']).allows(''), 'not a browser: not checked');
});

t.test('exact origins: scheme, host (any case) and port must match; default ports are the same origin', async (t) => {
  const p = new OriginPolicy(['https://App.Example.com', 'http://localhost:3000']);
  t.ok(p.allows('https://app.example.com'));
  t.ok(p.allows('https://APP.example.com:443'), 'explicit default port');
  t.ok(p.allows('http://localhost:3000'));
  t.notOk(p.allows('http://app.example.com'), 'other scheme');
  t.notOk(p.allows('https://app.example.com:8443'), 'other port');
  t.notOk(p.allows('http://localhost:3001'));
  t.notOk(p.allows('https://app.example.com.evil.test'), 'a suffix attack');
  t.notOk(p.allows('null'), 'the opaque origin');
  t.notOk(p.allows('not a url'));
});

t.test('wildcards match subdomains only; without a scheme http and https', async (t) => {
  const p = new OriginPolicy(['*.example.com', 'https://*.secure.test']);
  t.ok(p.allows('https://a.example.com'));
  t.ok(p.allows('http://a.b.example.com'));
  t.notOk(p.allows('https://example.com'), 'not the domain itself');
  t.notOk(p.allows('https://badexample.com'));
  t.notOk(p.allows('https://a.example.com:8080'), 'other port');
  t.notOk(p.allows('ftp://a.example.com'));
  t.ok(p.allows('https://x.secure.test'));
  t.notOk(p.allows('http://x.secure.test'), 'pattern scheme enforced');
});

t.test('invalid entries are refused (the config loader uses this)', async (t) => {
  for (const bad of ['example.com', 'https://a.test/path', '*', '*.com', 'https://*', 'https://a.*.test', 'https://a.test:99999', '', 'https://us er.test']) {
    t.equal(parseOriginRule(bad), undefined, JSON.stringify(bad));
  }
  for (const good of ['https://a.test', '*.a.test', 'http://[::1]:8080', 'http://127.0.0.1:3000', 'https://*.a.test:8443']) {
    t.not(parseOriginRule(good), undefined, good);
  }
});
