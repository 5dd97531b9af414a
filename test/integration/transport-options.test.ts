import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { isNative } from '../../src/transport/uws.js';

t.test('uWebSockets.js runs on its native binary, not the JavaScript fallback', async (t) => {
  t.equal(isNative(), true, 'native uWS binary loaded');
});

t.test('TLS: CertFile/KeyFile switch to wss', async (t) => {
  const dir = tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const { url } = await startGateway(t, { Tls: { CertFile: cert, KeyFile: key } });
  t.match(url, /^wss:/);
  const c = await TestClient.connect(url, { token: await token({ sub: 'tls' }), wsOptions: { rejectUnauthorized: false } });
  t.equal((await c.request({ type: 'ping' })).type, 'pong', 'frames flow over TLS');
  await c.close();
});

t.test('Compression: permessage-deflate is negotiated and frames flow', async (t) => {
  const { url } = await startGateway(t, { Compression: { Enable: true } });
  const a = await TestClient.connect(url, { token: await token({ sub: 'za' }), wsOptions: { perMessageDeflate: true } });
  const b = await TestClient.connect(url, { token: await token({ sub: 'zb' }), wsOptions: { perMessageDeflate: true } });
  t.match(a.ws.extensions, /permessage-deflate/, 'extension negotiated');
  const text = 'compress me '.repeat(500);
  await a.request({ type: 'message', data: { to: 'zb', content: text } });
  t.equal((await b.next((f) => f.type === 'message')).data.content, text);
  await Promise.all([a.close(), b.close()]);
});
