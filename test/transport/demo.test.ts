import t from 'tap';
import WebSocket from 'ws';
import { Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { testConfig } from '../helpers/gateway.js';

const DEV_SECRET = 'change-me-dev-secret-at-least-32-bytes!!';

async function start(t: { teardown(fn: () => unknown): void }, overrides: Record<string, unknown>, devSecret: boolean): Promise<string> {
  const config = testConfig(overrides);
  const gateway = await Gateway.start({ config, log: createLogger('silent'), devSecret });
  t.teardown(() => gateway.stop());
  return `http://127.0.0.1:${gateway.port}`;
}

t.test('Demo.Enable off (the default): no /demo routes', async (t) => {
  const base = await start(t, {}, true);
  const res = await fetch(`${base}/demo`);
  t.equal(res.status, 404);
  t.equal((await res.json() as { error: { code: string } }).error.code, 'NOT_FOUND');
  t.equal((await fetch(`${base}/demo/token?user=alice`)).status, 404);
});

t.test('Demo.Enable with a real secret: the page and the SDK, but no token route', async (t) => {
  const base = await start(t, { Demo: { Enable: true } }, false);
  const page = await fetch(`${base}/demo`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /text\/html/);
  t.match(await page.text(), /<script type="module" src="\/demo\/app.js">/);
  const app = await fetch(`${base}/demo/app.js`);
  t.match(app.headers.get('content-type'), /text\/javascript/);
  t.match(await app.text(), /from '\/demo\/sdk\/index.js'/);
  const sdk = await fetch(`${base}/demo/sdk/client.js`);
  t.equal(sdk.status, 200, 'the compiled SDK is served (npm test builds it first)');
  t.match(await sdk.text(), /export function connect/);
  t.equal((await fetch(`${base}/demo/token?user=alice`)).status, 404, 'no token minting with a real secret');
  t.equal((await fetch(`${base}/demo/sdk/..%2Fmain.js`)).status, 404, 'nothing outside the two directories');
  t.equal((await fetch(`${base}/demo/nope.html`)).status, 404);
});

t.test('with the development secret /demo/token mints a token the gateway accepts', async (t) => {
  const base = await start(t, { Demo: { Enable: true }, Auth: { Secret: DEV_SECRET } }, true);
  const bad = await fetch(`${base}/demo/token?user=no%20spaces`);
  t.equal(bad.status, 400);
  t.equal((await bad.json() as { error: { code: string } }).error.code, 'BAD_REQUEST');
  t.equal((await fetch(`${base}/demo/token?user=system`)).status, 400, 'the reserved id is refused');
  const res = await fetch(`${base}/demo/token?user=alice`);
  t.equal(res.status, 200);
  const body = await res.json() as { token: string; user: string; expiresIn: number };
  t.equal(body.user, 'alice');
  t.equal(body.expiresIn, 3600);
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${body.token}`, 'json');
  const joined = await new Promise<{ type: string; data: { status: string } }>((resolve, reject) => {
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', id: 'j', data: { group: 'demo:lobby' } })));
    ws.on('message', (data) => resolve(JSON.parse(String(data))));
    ws.on('error', reject);
  });
  ws.close();
  t.match(joined, { type: 'ack', data: { status: 'ok' } }, 'the token connects and may join demo:* rooms');
});
